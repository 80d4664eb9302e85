import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { anyRole } from '../auth.js'
import { problems } from '../schemas.js'

export interface HealthRoutesOptions {
  /** Each check answers true when its dependency is usable. */
  readonly checks: Readonly<Record<string, () => boolean | Promise<boolean>>>
}

const Checks = Type.Object({ status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]), checks: Type.Record(Type.String(), Type.Boolean()) })

export const healthRoutes: FastifyPluginAsyncTypebox<HealthRoutesOptions> = async (app, { checks }) => {
  app.get(
    '/health',
    {
      config: { allow: 'public' },
      schema: { summary: 'Alive: answers once the service serves', tags: ['operations'], response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
    },
    async () => ({ status: 'ok' as const }),
  )

  app.get(
    '/ready',
    {
      config: { allow: anyRole },
      schema: { summary: 'Ready: SQLite and Redis usable', tags: ['operations'], response: { 200: Checks, 503: Checks, ...problems(401, 403) } },
    },
    async (_request, reply) => {
      const results = Object.fromEntries(
        await Promise.all(Object.entries(checks).map(async ([name, check]) => [name, await Promise.resolve().then(check).catch(() => false)] as const)),
      )
      const ok = Object.values(results).every(Boolean)
      if (!ok) reply.header('retry-after', '1')
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks: results })
    },
  )
}
