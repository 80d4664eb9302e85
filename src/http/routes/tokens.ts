import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { roles, type TokenStore } from '../../auth/tokens.js'
import { problem, sendProblem } from '../problems.js'
import { Identifier, problems } from '../schemas.js'

export interface TokenRoutesOptions {
  readonly tokens: TokenStore
  /** Called after a revocation (open streams of the token end). */
  readonly onRevoked?: (tokenId: string) => void
}

const Role = Type.Unsafe<(typeof roles)[number]>({ type: 'string', enum: [...roles] })
const TokenInfo = Type.Object({
  tokenId: Type.String(),
  deviceId: Type.String(),
  role: Role,
  label: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  lastSeenAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
})
const admin = ['admin'] as const

/** Device tokens: minted by admins, shown once, stored only as a hash, revocable. */
export const tokenRoutes: FastifyPluginAsyncTypebox<TokenRoutesOptions> = async (app, { tokens, onRevoked }) => {
  app.post(
    '/admin/tokens',
    {
      config: { allow: admin },
      schema: {
        summary: 'Create a device token (the secret is in this answer and never again)',
        tags: ['admin'],
        body: Type.Object(
          { deviceId: Identifier, role: Role, label: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ token: Type.String(), ...TokenInfo.properties }), ...problems(400, 401, 403, 413, 415) },
      },
    },
    async (request, reply) => {
      const { token, info } = await tokens.create(request.body)
      request.log.info({ tokenId: info.tokenId, deviceId: info.deviceId, role: info.role, by: request.principal!.deviceId }, 'token created')
      return reply.code(201).header('cache-control', 'no-store').send({ token, ...info })
    },
  )

  app.get(
    '/admin/tokens',
    {
      config: { allow: admin },
      schema: { summary: 'Device tokens (never their secrets)', tags: ['admin'], response: { 200: Type.Object({ items: Type.Array(TokenInfo) }), ...problems(401, 403) } },
    },
    async () => ({ items: await tokens.list() }),
  )

  app.delete(
    '/admin/tokens/:tokenId',
    {
      config: { allow: admin },
      schema: {
        summary: 'Revoke a device token (effective immediately)',
        tags: ['admin'],
        params: Type.Object({ tokenId: Type.String({ pattern: '^[0-9a-f-]{36}$' }) }, { additionalProperties: false }),
        response: { 200: TokenInfo, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { tokenId } = request.params
      if (!(await tokens.get(tokenId))) return sendProblem(reply, problem('not-found', `no token ${tokenId}`))
      await tokens.revoke(tokenId)
      onRevoked?.(tokenId)
      request.log.info({ tokenId, by: request.principal!.deviceId }, 'token revoked')
      return (await tokens.get(tokenId))!
    },
  )
}
