import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Metrics } from '../../metrics.js'
import { anyRole, readers } from '../auth.js'
import { problems } from '../schemas.js'

export interface HealthRoutesOptions {
  /** Each check answers true when its dependency is usable. */
  readonly checks: Readonly<Record<string, () => boolean | Promise<boolean>>>
  readonly metrics: Metrics
}

const Checks = Type.Object({ status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]), checks: Type.Record(Type.String(), Type.Boolean()) })

export const healthRoutes: FastifyPluginAsyncTypebox<HealthRoutesOptions> = async (app, { checks, metrics }) => {
  app.get(
    '/metrics',
    {
      config: { allow: readers },
      schema: {
        summary: 'Prometheus metrics (text exposition format)',
        tags: ['operations'],
        produces: ['text/plain'],
        response: { 200: Type.String({ description: 'Prometheus text format' }), ...problems(401, 403) },
      },
    },
    async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  )

  // Probes come every few seconds: their requests are logged only at warn and above (not at info).
  app.get(
    '/health',
    {
      logLevel: 'warn',
      config: { allow: 'public' },
      schema: { summary: 'Alive: answers once the service serves', tags: ['operations'], response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
    },
    async () => ({ status: 'ok' as const }),
  )

  app.get(
    '/ready',
    {
      logLevel: 'warn',
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
