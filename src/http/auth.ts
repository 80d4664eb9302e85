import type { FastifyInstance } from 'fastify'
import { LRUCache } from 'lru-cache'
import type { Principal, Role, TokenStore } from '../auth/tokens.js'
import { Forbidden, RateLimited, Unauthorized } from './problems.js'

/**
 * Bearer-token authentication and role checks, deny by default: every route declares
 * `config.allow` (`'public'` or the roles that may call it); a route that declares nothing is
 * refused to everyone. Runs on `onRequest`, before any body is read.
 */
declare module 'fastify' {
  interface FastifyContextConfig {
    allow?: 'public' | readonly Role[]
  }
  interface FastifyRequest {
    principal: Principal | null
  }
}

export const anyRole: readonly Role[] = ['scanner', 'reviewer', 'admin']
export const readers: readonly Role[] = ['reviewer', 'admin']
export const writers: readonly Role[] = ['scanner', 'admin']

const bearer = /^Bearer ([\x21-\x7E]{1,512})$/i

/**
 * Failed-authentication throttling: an address that presented `limit` bad or missing tokens within
 * `windowMs` is answered 429 (without looking at its token) until the window passes, so tokens cannot
 * be guessed at speed. Bounded memory: at most `addresses` addresses are tracked.
 */
export interface AuthThrottle {
  readonly limit: number
  readonly windowMs: number
  readonly addresses?: number
}

export function registerAuth(app: FastifyInstance, tokens: TokenStore, throttle: AuthThrottle, onFailure?: (reason: 'missing' | 'invalid' | 'throttled') => void): void {
  const failures = new LRUCache<string, { count: number }>({ max: throttle.addresses ?? 10_000, ttl: throttle.windowMs })
  app.decorateRequest('principal', null)
  app.addHook('onRequest', async (request, reply) => {
    const allow = request.routeOptions.config.allow
    if (allow === 'public' || request.is404) return
    const failed = failures.get(request.ip)
    if (failed && failed.count >= throttle.limit) {
      onFailure?.('throttled')
      reply.header('retry-after', String(Math.ceil(failures.getRemainingTTL(request.ip) / 1000)))
      throw new RateLimited('too many failed authentication attempts from this address; wait before trying again')
    }
    const match = bearer.exec(request.headers.authorization ?? '')
    const principal = match ? tokens.verify(match[1]!) : undefined
    if (!principal) {
      if (failed) failed.count++
      else failures.set(request.ip, { count: 1 })
      onFailure?.(match ? 'invalid' : 'missing')
      throw new Unauthorized(match ? 'the bearer token is unknown or revoked' : 'send Authorization: Bearer <token>')
    }
    request.principal = principal
    if (!allow || !allow.includes(principal.role)) {
      throw new Forbidden(`role ${principal.role} may not ${request.method} ${request.routeOptions.url}`)
    }
  })
}
