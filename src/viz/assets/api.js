// The page's only door to the server: same-origin requests with the reviewer's bearer token.
//
// The token comes from the URL fragment (`/viz#token=…`, never sent to the server) or the sign-in
// form, and lives in sessionStorage: gone when the tab closes, never in a URL the page navigates to.

const tokenKey = 'waybill.viz.token'

/** Takes `#token=…` out of the address bar (into sessionStorage) and returns the token to use. */
export function takeToken() {
  const fragment = new URLSearchParams(location.hash.slice(1))
  const fromFragment = fragment.get('token')
  if (fromFragment) {
    sessionStorage.setItem(tokenKey, fromFragment)
    history.replaceState(null, '', location.pathname + location.search)
  }
  return sessionStorage.getItem(tokenKey)
}

export function saveToken(token) {
  sessionStorage.setItem(tokenKey, token)
}

export function forgetToken() {
  sessionStorage.removeItem(tokenKey)
}

/** An error the server answered with (problem+json when it can), with its HTTP status. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`)
    this.status = status
    this.problem = problem
  }
  get unauthorized() {
    return this.status === 401 || this.status === 403
  }
}

/** A client bound to one token. `get` resolves with JSON (or text for non-JSON answers). */
export function client(token) {
  const headers = (extra = {}) => ({ authorization: `Bearer ${token}`, ...extra })

  async function request(path, accept = 'application/json') {
    const response = await fetch(path, { headers: headers({ accept }), cache: 'no-store' })
    const type = response.headers.get('content-type') ?? ''
    if (!response.ok) throw new ApiError(response.status, type.includes('json') ? await response.json().catch(() => null) : null)
    return type.includes('json') ? response.json() : response.text()
  }

  return {
    get: (path) => request(path),
    text: (path, accept) => request(path, accept),
    blob: async (path) => {
      const response = await fetch(path, { headers: headers(), cache: 'no-store' })
      if (!response.ok) throw new ApiError(response.status, null)
      return response.blob()
    },
    follow: (options) => follow(headers, options),
  }
}

/**
 * Follows `GET /events/stream` (Server-Sent Events) with fetch, because EventSource cannot send an
 * Authorization header. Calls `onEvent(event)` for each event in commit order, `onStatus(status)`
 * with 'connecting' | 'live' | 'reconnecting' | 'unauthorized'. Reconnects with backoff and
 * `Last-Event-ID` (the position last seen, or the `after` of the first `ready`), so no event is
 * missed or repeated across a reconnect. Returns a function that stops following.
 */
function follow(headers, { onEvent, onStatus }) {
  const stop = new AbortController()
  let lastId = null
  let backoff = 500

  async function run() {
    while (!stop.signal.aborted) {
      onStatus(lastId === null ? 'connecting' : 'reconnecting')
      try {
        const response = await fetch('/events/stream', {
          headers: headers({ accept: 'text/event-stream', ...(lastId === null ? {} : { 'last-event-id': lastId }) }),
          cache: 'no-store',
          signal: stop.signal,
        })
        if (response.status === 401 || response.status === 403) return onStatus('unauthorized')
        if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`)
        await readMessages(response.body, (message) => {
          if (message.event === 'ready') {
            if (lastId === null) lastId = String(JSON.parse(message.data).after)
            backoff = 500
            onStatus('live')
          } else if (message.event === 'event') {
            if (message.id !== undefined) lastId = message.id
            onEvent(JSON.parse(message.data))
          }
        })
      } catch (error) {
        if (stop.signal.aborted) return
        console.warn('event stream interrupted:', error)
      }
      if (stop.signal.aborted) return
      onStatus('reconnecting')
      await new Promise((resolve) => setTimeout(resolve, backoff))
      backoff = Math.min(backoff * 2, 10_000)
    }
  }
  run()
  return () => stop.abort()
}

/** Parses an SSE body (WHATWG: lines end in CRLF, LF or CR; a blank line ends a message; `:` starts a comment). */
async function readMessages(body, onMessage) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  let message = { data: [] }
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    buffer += value
    // A trailing CR may be the first half of a CRLF: keep it until the next chunk tells.
    const end = buffer.endsWith('\r') ? buffer.length - 1 : buffer.length
    const lines = buffer.slice(0, end).split(/\r\n|\n|\r/)
    // The last piece is an unfinished line.
    buffer = (lines.pop() ?? '') + buffer.slice(end)
    for (const line of lines) {
      if (line === '') {
        if (message.data.length > 0) onMessage({ id: message.id, event: message.event ?? 'message', data: message.data.join('\n') })
        message = { data: [] }
        continue
      }
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      const raw = colon < 0 ? '' : line.slice(colon + 1)
      const text = raw.startsWith(' ') ? raw.slice(1) : raw
      if (field === 'data') message.data.push(text)
      else if (field === 'event') message.event = text
      else if (field === 'id') message.id = text
    }
  }
}
