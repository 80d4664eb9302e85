import { connect } from 'node:net'
import t, { type Test } from 'tap'
import { bootstrapToken, startTestService } from '../helpers/service.js'

// Errors met by the HTTP parser (before any route, hook or error handler) and by the router before
// routing: every one is answered as problem+json like every other error, and the connection closes.
interface RawAnswer {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: any
  readonly raw: string
}

/** Writes `text` on a fresh socket (in pieces, `pauseMs` apart, when it is an array) and reads until the server closes it. */
function raw(port: number, text: string | string[], pauseMs = 0): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no close within 10 s; got: ${Buffer.concat(chunks).toString()}`))
    }, 10_000)
    socket.on('data', (chunk) => chunks.push(chunk))
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      const all = Buffer.concat(chunks).toString()
      const [head = '', ...rest] = all.split('\r\n\r\n')
      const [statusLine = '', ...lines] = head.split('\r\n')
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]))
      const bodyText = rest.join('\r\n\r\n')
      let body: unknown = bodyText
      try {
        body = JSON.parse(bodyText)
      } catch {}
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body, raw: all })
    })
    const pieces = Array.isArray(text) ? text : [text]
    void (async () => {
      for (const piece of pieces) {
        if (socket.destroyed) return
        socket.write(piece)
        if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs))
      }
    })()
  })
}

const auth = `Authorization: Bearer ${bootstrapToken}\r\n`

t.test('parser-level errors answer problem+json', async (t) => {
  // Not about load shedding: a loaded test machine must not turn requests into 503s here.
  const api = await startTestService(t, { http: true, env: { WAYBILL_REQUEST_TIMEOUT_MS: '1000', WAYBILL_MAX_EVENT_LOOP_DELAY_MS: '60000' } })
  const port = Number(new URL(api.service.url!).port)
  const isProblem = (t: Test, answer: RawAnswer, status: number, type: string) => {
    t.equal(answer.status, status, `status ${status}: ${answer.raw.slice(0, 300)}`)
    t.match(answer.headers['content-type'], /^application\/problem\+json/, 'problem+json')
    t.match(answer.body, { type: `/problems/${type}`, status, title: String })
  }

  t.test('request smuggling: Content-Length and Transfer-Encoding together', async (t) => {
    const smuggled = `POST /shipments/SMUGGLED/commands HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 19\r\n\r\n{"type":"REGISTER"}`
    const answer = await raw(port, `POST /shipments/FRONT/commands HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`)
    isProblem(t, answer, 400, 'malformed-request')
    t.equal(answer.headers.connection, 'close')
    t.equal((answer.raw.match(/HTTP\/1\.1 /g) ?? []).length, 1, 'one answer: the smuggled request was never read')
    t.equal((await api.service.storage.store.events.readStream('SMUGGLED')).length, 0)
    t.equal((await api.service.storage.store.events.readStream('FRONT')).length, 0)
  })

  t.test('an invalid header line', async (t) => {
    isProblem(t, await raw(port, `GET /health HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n`), 400, 'malformed-request')
  })

  t.test('a malformed chunked body', async (t) => {
    isProblem(t, await raw(port, `POST /shipments/CHUNK/commands HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`), 400, 'malformed-request')
  })

  t.test('headers over the limit: 431', async (t) => {
    isProblem(t, await raw(port, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), 431, 'headers-too-large')
  })

  t.test('a request not received within the request timeout: 408', async (t) => {
    const start = `POST /shipments/SLOW/commands HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 50\r\n\r\n{`
    isProblem(t, await raw(port, [start, ...Array.from({ length: 30 }, () => ' ')], 100), 408, 'request-timeout')
    t.equal((await api.service.storage.store.events.readStream('SLOW')).length, 0)
  })

  t.test('a path that is not a valid URL', async (t) => {
    isProblem(t, await raw(port, `GET /shipments/%E0%A4%A/events HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`), 400, 'invalid-request')
  })

  t.test('a path parameter over the router limit', async (t) => {
    isProblem(t, await raw(port, `GET /shipments/${'a'.repeat(150)} HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`), 414, 'uri-too-long')
  })

  t.test('the service still serves afterwards', async (t) => {
    t.equal((await api.command('AFTER', { type: 'REGISTER' })).status, 201)
  })
})
