import { request } from 'node:http'
import { bootstrapToken } from './service.js'

/**
 * A Server-Sent Events client over a real connection: parsed messages, the arrival time of every
 * chunk (heartbeats included, to see the longest silence), and how the stream ended.
 */
export interface SseMessage {
  readonly id?: string
  readonly event?: string
  readonly data: any
}

export interface SseClient {
  readonly messages: SseMessage[]
  /** Arrival times (Date.now()) of every chunk read. */
  readonly arrivals: number[]
  heartbeats: number
  /** Resolves with the answer's status and content type (and body, when it is not a stream). */
  readonly response: Promise<{ status: number; type: string; body?: any }>
  /** Resolves when the stream ends or breaks, with how. */
  readonly ended: Promise<{ how: 'end' | 'close' | 'error'; at: number; error?: string }>
  /** The longest silence between two chunks so far (ms), counted from the response head. */
  longestSilence(): number
  close(): void
}

export function openStream(base: string, options: { token?: string; headers?: Record<string, string>; query?: string; parse?: boolean } = {}): SseClient {
  const messages: SseMessage[] = []
  const arrivals: number[] = []
  let buffer = ''
  let headAt = 0
  const client = { heartbeats: 0 } as { heartbeats: number }
  const url = new URL(`/events/stream${options.query ?? ''}`, base)
  const req = request(url, {
    headers: { authorization: `Bearer ${options.token ?? bootstrapToken}`, accept: 'text/event-stream', ...options.headers },
  })
  let settle: (value: { how: 'end' | 'close' | 'error'; at: number; error?: string }) => void = () => {}
  const ended = new Promise<{ how: 'end' | 'close' | 'error'; at: number; error?: string }>((resolve) => {
    let done = false
    settle = (value) => {
      if (!done) resolve(value)
      done = true
    }
  })
  const response = new Promise<{ status: number; type: string; body?: any }>((resolve, reject) => {
    req.on('error', (error) => {
      reject(error)
      settle({ how: 'error', at: Date.now(), error: error.message })
    })
    req.on('response', (res) => {
      headAt = Date.now()
      const type = String(res.headers['content-type'])
      res.setEncoding('utf8')
      if (!type.startsWith('text/event-stream')) {
        let text = ''
        res.on('data', (chunk: string) => (text += chunk))
        res.on('end', () => resolve({ status: res.statusCode!, type, body: /json/.test(type) ? JSON.parse(text) : text }))
        return
      }
      resolve({ status: res.statusCode!, type })
      res.on('data', (chunk: string) => {
        arrivals.push(Date.now())
        buffer += chunk
        let end
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          if (block.startsWith(':')) {
            client.heartbeats++
            continue
          }
          if (options.parse === false) {
            // Cheap for long catch-ups: the id only (`id: N` comes first in every event message).
            messages.push({ id: block.startsWith('id: ') ? block.slice(4, block.indexOf('\n')) : undefined, data: null })
            continue
          }
          const fields = Object.fromEntries(block.split('\n').filter((l) => l && !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]))
          if (fields.data !== undefined) messages.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data) })
        }
      })
      res.on('end', () => settle({ how: 'end', at: Date.now() }))
      res.on('close', () => settle({ how: 'close', at: Date.now() }))
      res.on('error', (error) => settle({ how: 'error', at: Date.now(), error: error.message }))
    })
  })
  response.catch(() => {})
  req.end()
  return Object.assign(client, {
    messages,
    arrivals,
    response,
    ended,
    longestSilence() {
      let longest = 0
      let previous = headAt
      for (const at of [...arrivals, Date.now()]) {
        longest = Math.max(longest, at - previous)
        previous = at
      }
      return longest
    },
    close: () => req.destroy(),
  })
}
