import type {} from '@fastify/sse'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { shipmentChart } from '../../../machines/shipment/index.js'
import type { FeedHub } from '../../projections/feed-hub.js'
import type { ProcessStats } from '../../projections/process-stats.js'
import type { ShipmentQueries } from '../../projections/queries.js'
import { anyRole, readers } from '../auth.js'
import { problem, sendProblem } from '../problems.js'
import { problems, ShipmentParams } from '../schemas.js'

/**
 * The process map's data: the machine as data, the numbers on it, a shipment's full timeline
 * (accepted events and rejected attempts), and the live event stream.
 */
export interface ProcessRoutesOptions {
  readonly stats: ProcessStats
  readonly queries: ShipmentQueries
  readonly feed: FeedHub
  readonly stuckAfterMs: number
  readonly clock: () => number
}

const Timestamp = Type.String({ format: 'date-time' })

export const processRoutes: FastifyPluginAsyncTypebox<ProcessRoutesOptions> = async (app, { stats, queries, feed, stuckAfterMs, clock }) => {
  app.get(
    '/machines/shipment',
    {
      config: { allow: anyRole },
      schema: {
        summary: 'The shipment state machine as data (states, nesting, transitions with command, event, guard)',
        tags: ['process map'],
        response: { 200: Type.Unsafe<typeof shipmentChart>({ type: 'object', additionalProperties: true }), ...problems(401, 403) },
      },
    },
    async () => shipmentChart,
  )

  app.get(
    '/stats',
    {
      config: { allow: readers },
      schema: {
        summary: 'Per state: shipments now, dwell p50/p95, stuck; per transition: traffic; per (state, command): rejections',
        tags: ['process map'],
        querystring: Type.Object(
          {
            from: Type.Optional(Timestamp),
            to: Type.Optional(Timestamp),
            stuckAfterMs: Type.Optional(Type.Integer({ minimum: 0, description: 'override the configured stuck threshold' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Unsafe({ type: 'object', additionalProperties: true }), ...problems(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const from = request.query.from === undefined ? undefined : Date.parse(request.query.from)
      const to = request.query.to === undefined ? undefined : Date.parse(request.query.to)
      if (from !== undefined && to !== undefined && from > to) return sendProblem(reply, problem('invalid-request', '`from` is after `to`'))
      return stats.read({ from, to }, request.query.stuckAfterMs ?? stuckAfterMs, clock())
    },
  )

  app.get(
    '/shipments/:shipmentId/commands',
    {
      config: { allow: readers },
      schema: {
        summary: "A shipment's timeline: every command sent to it (accepted or rejected), who, from which device, when, why",
        tags: ['shipments'],
        params: ShipmentParams,
        response: { 200: Type.Unsafe({ type: 'object', additionalProperties: true }), ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const commands = queries.timeline(request.params.shipmentId)
      if (commands.length === 0) return sendProblem(reply, problem('not-found', `no command was ever sent to shipment ${request.params.shipmentId}`))
      return { shipmentId: request.params.shipmentId, commands }
    },
  )

  app.get(
    '/events/stream',
    {
      // Negotiated here (not by the plugin) so that a refusal is problem+json like every error.
      sse: { kind: 'manual' },
      config: { allow: readers },
      schema: {
        summary: 'The global event feed as Server-Sent Events (`id` = position; resumes after `Last-Event-ID` or `?after=`)',
        tags: ['events'],
        querystring: Type.Object({ after: Type.Optional(Type.Integer({ minimum: 0 })) }, { additionalProperties: false }),
      },
    },
    async (request, reply) => {
      const accept = request.headers.accept ?? '*/*'
      if (!/(^|,)\s*(text\/event-stream|text\/\*|\*\/\*)\s*(;(?!\s*q=0(\.0*)?\s*(,|$))[^,]*)?(,|$)/i.test(accept)) {
        return sendProblem(reply, problem('not-acceptable', 'this route only answers text/event-stream'))
      }
      const lastEventId = Number(reply.sse.lastEventId)
      // Resume after Last-Event-ID, else after ?after=, else from now on.
      const after = Number.isSafeInteger(lastEventId) && lastEventId >= 0 && reply.sse.lastEventId !== null ? lastEventId : (request.query.after ?? queries.lastPosition())
      reply.sse.keepAlive()
      await reply.sse.send({ event: 'ready', data: { after } })
      const unsubscribe = feed.subscribe({
        after,
        deliver: async (events) => {
          for (const event of events) {
            // Throwing drops this subscriber from the hub (its client is gone).
            if (!reply.sse.isConnected) throw new Error('the event stream client went away')
            await reply.sse.send({ id: String(event.position), event: 'event', data: event })
          }
        },
      })
      reply.sse.onClose(unsubscribe)
      if (!reply.sse.isConnected) unsubscribe()
    },
  )
}
