// @ts-check
// The page's only door to the server: same-origin requests that carry the process map's session
// cookie (HttpOnly: this script never sees it). Signing in exchanges a reviewer's token for that
// session (POST /viz/session), so the token is held only for that one request — never stored, never
// in an address the page navigates to — and every new tab of the map is signed in already.

import { reconnectDelay } from './logic.js'

/** An error the server answered with (problem+json when it can), with its HTTP status. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {{ detail?: string, title?: string, type?: string } | null} problem
   */
  constructor(status, problem) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`)
    this.status = status
    this.problem = problem
  }

  /** The session (or the token behind it) is no longer accepted. */
  get signedOut() {
    return this.status === 401
  }
}

/**
 * A GET that rides out a busy server: a 503 (load shed) or 429 (rate limited) is asked again after
 * its Retry-After (1 s when absent, at most 10 s), up to `attempts` times, so one refusal under load
 * does not leave the page without its numbers. Any other answer is returned as it is.
 * @param {string} path
 * @param {RequestInit} init
 */
async function fetchRetrying(path, init, attempts = 8) {
  for (let attempt = 1; ; attempt++) {
    const response = await fetch(path, init)
    if ((response.status !== 503 && response.status !== 429) || attempt >= attempts) return response
    const seconds = Number(response.headers.get('retry-after'))
    await new Promise((resolve) => setTimeout(resolve, 1000 * Math.min(10, Number.isFinite(seconds) && seconds > 0 ? seconds : 1)))
  }
}

/** @param {Response} response */
async function problemOf(response) {
  const type = response.headers.get('content-type') ?? ''
  return type.includes('json') ? /** @type {Promise<{ detail?: string, title?: string } | null>} */ (response.json().catch(() => null)) : null
}

/**
 * GET `path` as JSON, typed by the caller (`@type` of the route's response schema, src/http/schemas.ts).
 * @template T
 * @param {string} path
 * @returns {Promise<T>}
 */
export async function getJson(path) {
  const response = await fetchRetrying(path, { headers: { accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin' })
  if (!response.ok) throw new ApiError(response.status, await problemOf(response))
  return /** @type {Promise<T>} */ (response.json())
}

/** GET `path` as text (an SVG, a Mermaid file). */
export async function getText(/** @type {string} */ path, accept = 'text/plain') {
  const response = await fetchRetrying(path, { headers: { accept }, cache: 'no-store', credentials: 'same-origin' })
  if (!response.ok) throw new ApiError(response.status, await problemOf(response))
  return response.text()
}

/** GET `path` as a file to save. */
export async function getBlob(/** @type {string} */ path) {
  const response = await fetchRetrying(path, { cache: 'no-store', credentials: 'same-origin' })
  if (!response.ok) throw new ApiError(response.status, await problemOf(response))
  return response.blob()
}

/**
 * @typedef {import('../../http/schemas.js').Session} Session
 */

/**
 * Signs in with a token: the server answers with the session cookie (and refuses a scanner's token
 * in words). The token is not kept.
 * @param {string} token
 * @returns {Promise<Session>}
 */
export async function signIn(token) {
  const response = await fetch('/viz/session', { method: 'POST', headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin' })
  if (!response.ok) throw new ApiError(response.status, await problemOf(response))
  return /** @type {Promise<Session>} */ (response.json())
}

/** The session this browser holds, or null. */
export async function currentSession() {
  try {
    return /** @type {Session} */ (await getJson('/viz/session'))
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 404)) return null
    throw error
  }
}

/** Signs out: the session ends on the server and its cookie is cleared. */
export async function signOut() {
  await fetch('/viz/session', { method: 'DELETE', cache: 'no-store', credentials: 'same-origin' })
}

/**
 * @typedef {'connecting' | 'live' | 'reconnecting' | 'signed-out'} StreamStatus
 */

/**
 * Follows `GET /events/stream` with the browser's own EventSource (the session cookie goes with it):
 * its parser, and its reconnection after a dropped connection with `Last-Event-ID` (the ready message
 * carries the resume point as its id, so nothing is missed even before the first event). A refused
 * connection (EventSource gives up on any answer but 200) is tried again here, after the last id seen,
 * unless the session has ended. Returns a function that stops following.
 * @param {{ onEvent: (event: { position: number, shipmentId?: string, truckId?: string, type: string }) => void, onStatus: (status: StreamStatus) => void }} handlers
 */
export function follow({ onEvent, onStatus }) {
  /** @type {EventSource | null} */
  let source = null
  /** @type {string | null} */
  let lastId = null
  let failures = 0
  let stopped = false
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer

  const open = () => {
    if (stopped) return
    onStatus(lastId === null ? 'connecting' : 'reconnecting')
    const es = new EventSource(lastId === null ? '/events/stream' : `/events/stream?after=${encodeURIComponent(lastId)}`)
    source = es
    es.addEventListener('ready', (message) => {
      lastId = /** @type {MessageEvent} */ (message).lastEventId || lastId
      failures = 0
      onStatus('live')
    })
    es.addEventListener('event', (message) => {
      const event = /** @type {MessageEvent<string>} */ (message)
      if (event.lastEventId) lastId = event.lastEventId
      onEvent(JSON.parse(event.data))
    })
    es.addEventListener('error', () => {
      if (stopped) return
      if (es.readyState === EventSource.CONNECTING) return onStatus('reconnecting') // the browser retries by itself
      // Closed: refused (401, 409, 429, 503…). Signed out, or worth another try a little later?
      es.close()
      onStatus('reconnecting')
      currentSession().then(
        (session) => {
          if (stopped) return
          if (!session) return onStatus('signed-out')
          timer = setTimeout(open, reconnectDelay(++failures))
        },
        () => {
          timer = setTimeout(open, reconnectDelay(++failures))
        },
      )
    })
  }
  open()
  return () => {
    stopped = true
    clearTimeout(timer)
    source?.close()
  }
}
