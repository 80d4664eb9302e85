import { randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { LRUCache } from 'lru-cache'
import type { Principal, Role, TokenStore } from '../auth/tokens.js'
import { Forbidden, RateLimited, TokenRevoked, Unauthorized } from './problems.js'

/**
 * Bearer-token authentication and role checks, deny by default: every route declares
 * `config.allow` (`'public'` or the roles that may call it); a route that declares nothing is
 * refused to everyone. Runs on `onRequest`, before any body is read.
 */
declare module 'fastify' {
  interface FastifyContextConfig {
    allow?: 'public' | readonly Role[]
    /** The route takes the process map's session cookie although it is not a read (the sign-out). */
    acceptsSession?: boolean
  }
  interface FastifyRequest {
    principal: Principal | null
    /** Set by a route that logged its own line for this request (a command, a batch): no second line. */
    answerLogged: boolean
    /** The process map's session the request came with (authenticated by its cookie), if any. */
    session: ReviewSession | null
  }
}

export const anyRole: readonly Role[] = ['scanner', 'reviewer', 'admin']
export const readers: readonly Role[] = ['reviewer', 'admin']
export const writers: readonly Role[] = ['scanner', 'admin']

const bearer = /^Bearer ([\x21-\x7E]{1,512})$/i

/**
 * Failed-authentication throttling: an address that presented `limit` bad or missing tokens within
 * `windowMs` gets 429 instead of 401 for further bad tokens until the window passes, so tokens cannot
 * be guessed at speed (and logs are not flooded). A valid token always passes: one handheld with a
 * revoked token must not lock out every device behind the same NAT. Bounded memory: at most `addresses` addresses are tracked.
 */
export interface AuthThrottle {
  readonly limit: number
  readonly windowMs: number
  readonly addresses?: number
}

export function registerAuth(
  app: FastifyInstance,
  tokens: TokenStore,
  throttle: AuthThrottle,
  onFailure?: (reason: 'missing' | 'invalid' | 'throttled') => void,
  sessions?: ReviewSessions,
): void {
  const failures = new LRUCache<string, { count: number }>({ max: throttle.addresses ?? 10_000, ttl: throttle.windowMs })
  app.decorateRequest('principal', null)
  app.decorateRequest('session', null)
  app.addHook('onRequest', async (request, reply) => {
    const allow = request.routeOptions.config.allow
    if (allow === 'public' || request.is404) return
    // A request without a bearer token may come with the process map's session cookie (see below).
    if (sessions && !request.headers.authorization) {
      const id = sessionCookieOf(request)
      if (id !== undefined && takesSession(request)) {
        const session = sessions.get(id)
        if (!session || !(await tokens.isActive(session.principal.tokenId))) {
          if (session) sessions.end(id)
          clearSessionCookie(request, reply)
          throw new Unauthorized('your process map session has ended (signed out, expired, its token revoked, or the service restarted): sign in again')
        }
        request.principal = session.principal
        request.session = session
        if (!allow || !allow.includes(session.principal.role)) throw new Forbidden(`role ${session.principal.role} may not ${request.method} ${request.routeOptions.url}`)
        return
      }
    }
    const match = bearer.exec(request.headers.authorization ?? '')
    const principal = match ? await tokens.verify(match[1]!) : undefined
    if (!principal) {
      // Only failures are throttled, per client address (`request.ip`: the real client behind a
      // trusted proxy): one device with a revoked token never locks out valid tokens at its address.
      const failed = failures.get(request.ip)
      if (failed && failed.count >= throttle.limit) {
        onFailure?.('throttled')
        reply.header('retry-after', String(Math.ceil(failures.getRemainingTTL(request.ip) / 1000)))
        throw new RateLimited('too many failed authentication attempts from this address; wait before trying again')
      }
      if (failed) failed.count++
      else failures.set(request.ip, { count: 1 })
      onFailure?.(match ? 'invalid' : 'missing')
      if (!match) throw new Unauthorized('send Authorization: Bearer <token>')
      // Only someone holding the secret learns that it was revoked: the device needs a new token,
      // which is a different fix from a mistyped one.
      if (await tokens.isRevoked(match[1]!)) throw new TokenRevoked('the bearer token was revoked; ask an administrator for a new one')
      throw new Unauthorized('the bearer token is unknown')
    }
    request.principal = principal
    if (!allow || !allow.includes(principal.role)) {
      throw new Forbidden(`role ${principal.role} may not ${request.method} ${request.routeOptions.url}`)
    }
  })
}

/**
 * The process map's sessions (issue 15): a reviewer signs in once with a token and the browser keeps
 * an opaque session id in a cookie, so the map opens in every new tab without the token, and the
 * page's script never holds the token after signing in.
 *
 * The cookie is HttpOnly (no script reads it), SameSite=Strict (no other site's page makes the
 * browser send it), Path=/, Secure over HTTPS, and lives `ttlMs` (a working day). It is taken only
 * where a forged request could do no harm — reads (GET/HEAD) of routes a reviewer may read, plus the
 * sign-out — and never on a request another site started (`Sec-Fetch-Site: cross-site`). A request
 * with an `Authorization` header is judged by its bearer token alone. Every use checks that the
 * token behind the session is still valid, so revoking the token ends its sessions at once.
 *
 * Sessions live in this process's memory (bounded, least recently used first out): a restart, or a
 * second process behind the same address, asks the reviewer to sign in again (docs/process-map.md).
 */
export interface ReviewSession {
  readonly id: string
  readonly principal: Principal
  readonly expiresAt: number
}

export const sessionCookie = 'waybill_session'

export class ReviewSessions {
  readonly #sessions: LRUCache<string, ReviewSession>

  readonly ttlMs: number
  private readonly clock: () => number

  /** `ttlMs`: a working day; `max`: sessions kept (the least recently used go first). */
  constructor(options: { readonly ttlMs?: number; readonly max?: number; readonly clock?: () => number } = {}) {
    this.ttlMs = options.ttlMs ?? 12 * 3_600_000
    this.clock = options.clock ?? Date.now
    this.#sessions = new LRUCache({ max: options.max ?? 10_000, ttl: this.ttlMs, ttlAutopurge: false, perf: { now: this.clock } })
  }

  create(principal: Principal): ReviewSession {
    const session = { id: randomBytes(32).toString('base64url'), principal, expiresAt: this.clock() + this.ttlMs }
    this.#sessions.set(session.id, session)
    return session
  }

  get(id: string): ReviewSession | undefined {
    const session = this.#sessions.get(id)
    return session && session.expiresAt > this.clock() ? session : undefined
  }

  end(id: string): void {
    this.#sessions.delete(id)
  }

  /** Ends every session of a token (the token was revoked through this process). */
  endAllOf(tokenId: string): void {
    for (const [id, session] of this.#sessions.entries()) if (session.principal.tokenId === tokenId) this.#sessions.delete(id)
  }
}

/** The session cookie's value, if the request carries one. */
function sessionCookieOf(request: FastifyRequest): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === sessionCookie) return part.slice(eq + 1).trim() || undefined
  }
  return undefined
}

/**
 * Where a session may stand in for a bearer token: a read a reviewer may make (or a route that opts in,
 * the sign-out), started by the page itself — never a write, never an admin-only route, never a
 * request another site made the browser send.
 */
function takesSession(request: FastifyRequest): boolean {
  const { allow, acceptsSession } = request.routeOptions.config
  const site = request.headers['sec-fetch-site']
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false
  if (acceptsSession) return true
  return (request.method === 'GET' || request.method === 'HEAD') && Array.isArray(allow) && allow.includes('reviewer')
}

function cookieAttributes(request: FastifyRequest, maxAgeSeconds: number): string {
  return `Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${request.protocol === 'https' ? '; Secure' : ''}`
}

export function setSessionCookie(request: FastifyRequest, reply: FastifyReply, session: ReviewSession, ttlMs: number): void {
  reply.header('set-cookie', `${sessionCookie}=${session.id}; ${cookieAttributes(request, Math.floor(ttlMs / 1000))}`)
}

export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply): void {
  reply.header('set-cookie', `${sessionCookie}=; ${cookieAttributes(request, 0)}`)
}

export { sessionCookieOf }
