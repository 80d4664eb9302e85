import type { ServerResponse } from 'node:http'
import type {} from '@fastify/sse'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { shipmentChart } from '../../../machines/shipment/index.js'
import type { FeedHub } from '../../projections/feed-hub.js'
import type { OpenStreams } from '../event-streams.js'
import type { ProcessStats } from '../../projections/process-stats.js'
import type { ShipmentQueries } from '../../projections/queries.js'
import { anyRole, readers } from '../auth.js'
import { problem, sendProblem } from '../problems.js'
import { HistoryPageQuery, problems, ShipmentParams } from '../schemas.js'

/**
 * The process map's data: the machine as data, the numbers on it, a shipment's full timeline
 * (accepted events and rejected attempts), and the live event stream.
 */
export interface ProcessRoutesOptions {
  readonly stats: ProcessStats
  readonly queries: ShipmentQueries
  readonly feed: FeedHub
  readonly streams: OpenStreams
  readonly maxStreamsPerToken: number
  readonly stuckAfterMs: number
  readonly clock: () => number
}

const Timestamp = Type.String({ format: 'date-time' })

export const processRoutes: FastifyPluginAsyncTypebox<ProcessRoutesOptions> = async (app, { stats, queries, feed, streams, maxStreamsPerToken, stuckAfterMs, clock }) => {
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
        summary:
          "A shipment's timeline: every command sent to it (accepted or rejected), who, from which device, when, why; a page at a time (`after`, `limit`, `next` as for its events)",
        tags: ['shipments'],
        params: ShipmentParams,
        querystring: HistoryPageQuery,
        response: {
          200: Type.Object(
            { shipmentId: Type.String(), commands: Type.Array(Type.Unsafe({ type: 'object', additionalProperties: true })), next: Type.Union([Type.Integer(), Type.Null()]) },
            { additionalProperties: true },
          ),
          ...problems(400, 401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const { shipmentId } = request.params
      const page = await queries.timeline(shipmentId, request.query)
      if (page.commands.length === 0 && request.query.after === 0) return sendProblem(reply, problem('not-found', `no command was ever sent to shipment ${shipmentId}`))
      return { shipmentId, commands: page.commands, next: page.next }
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
        // 200 is the event stream itself (declared by the OpenAPI transform); the edge adds the rest.
        response: problems(409),
      },
    },
    async (request, reply) => {
      const accept = request.headers.accept ?? '*/*'
      if (!/(^|,)\s*(text\/event-stream|text\/\*|\*\/\*)\s*(;(?!\s*q=0(\.0*)?\s*(,|$))[^,]*)?(,|$)/i.test(accept)) {
        return sendProblem(reply, problem('not-acceptable', 'this route only answers text/event-stream'))
      }
      const lastEventId = Number(reply.sse.lastEventId)
      // Resume after Last-Event-ID, else after ?after=, else from now on.
      const after = Number.isSafeInteger(lastEventId) && lastEventId >= 0 && reply.sse.lastEventId !== null ? lastEventId : (request.query.after ?? (await queries.lastPosition()))
      const refused = await queries.resumeProblem(after)
      if (refused) return sendProblem(reply, problem('feed-reset', refused.detail, { resumeAfter: refused.resumeAfter }))
      // Registered before anything is sent: from here on, revoking the token ends this stream.
      const release = streams.add(request.principal!.tokenId, (reason) => {
        request.log.info({ reason }, 'event stream ended by the server')
        reply.sse.close()
      })
      if (!release) {
        return sendProblem(reply, problem('rate-limited', `this token already holds ${maxStreamsPerToken} open event streams; close one first`), { 'retry-after': '5' })
      }
      let unsubscribe = () => {}
      const ended = () => {
        release()
        unsubscribe()
      }
      reply.sse.onClose(ended)
      reply.sse.keepAlive()
      // The ready message carries the resume point as its id: a browser's EventSource then resumes
      // from it after a drop (Last-Event-ID) even when no event came before the drop; and asks it to
      // reconnect after one second (its default is three).
      await reply.sse.send({ id: String(after), event: 'ready', data: { after }, retry: 1000 })
      unsubscribe = feed.subscribe({
        after,
        // One write per chunk of events; resolves once the socket took it (backpressure) or closed.
        deliver: (events) => {
          if (!reply.sse.isConnected) return
          let text = ''
          for (const event of events) text += `id: ${event.position}\nevent: event\ndata: ${JSON.stringify(event)}\n\n`
          return write(reply.raw, text)
        },
        // Not the client leaving (that ends the stream through onClose): the stream is closed so that
        // the client sees it end and resumes from its last id, instead of a silent stream that looks live.
        failed: (error) => {
          request.log.error({ err: error }, 'event stream failed; closing it (the client resumes after its last event id)')
          reply.sse.close()
        },
      })
      if (!reply.sse.isConnected) ended()
    },
  )
}

/** Writes `text`; when the socket buffer is full, resolves on `drain` (or when the response closes). */
function write(response: ServerResponse, text: string): Promise<void> | undefined {
  if (response.write(text)) return undefined
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done)
      response.off('close', done)
      resolve()
    }
    response.on('drain', done)
    response.on('close', done)
  })
}
