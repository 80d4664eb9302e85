import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Principal, Role, TokenStore } from '../auth/tokens.js'
import { Forbidden, Unauthorized } from './problems.js'

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

export function registerAuth(app: FastifyInstance, tokens: TokenStore, onFailure?: (request: FastifyRequest) => void): void {
  app.decorateRequest('principal', null)
  app.addHook('onRequest', async (request) => {
    const allow = request.routeOptions.config.allow
    if (allow === 'public' || request.is404) return
    const match = bearer.exec(request.headers.authorization ?? '')
    const principal = match ? tokens.verify(match[1]!) : undefined
    if (!principal) {
      onFailure?.(request)
      throw new Unauthorized(match ? 'the bearer token is unknown or revoked' : 'send Authorization: Bearer <token>')
    }
    request.principal = principal
    if (!allow || !allow.includes(principal.role)) {
      throw new Forbidden(`role ${principal.role} may not ${request.method} ${request.routeOptions.url}`)
    }
  })
}
