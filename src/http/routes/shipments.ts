import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { ShipmentQueries } from '../../projections/queries.js'
import { anyRole, readers } from '../auth.js'
import { problem, sendProblem } from '../problems.js'
import { Feed, FeedQuery, HistoryPageQuery, ListQuery, problems, Shipment, ShipmentEvents, ShipmentPage, ShipmentParams, ShipmentQuery } from '../schemas.js'

export interface ShipmentRoutesOptions {
  readonly queries: ShipmentQueries
}

/** Opaque list cursors: base64url of the last shipment id of the page. */
const encodeCursor = (shipmentId: string) => Buffer.from(shipmentId, 'utf8').toString('base64url')
const decodeCursor = (cursor: string) => Buffer.from(cursor, 'base64url').toString('utf8')

export const shipmentRoutes: FastifyPluginAsyncTypebox<ShipmentRoutesOptions> = async (app, { queries }) => {
  app.get(
    '/shipments/:shipmentId',
    {
      config: { allow: anyRole },
      schema: {
        summary: 'A shipment now, or as it was (?version=N, ?at=ISO time)',
        tags: ['shipments'],
        params: ShipmentParams,
        querystring: ShipmentQuery,
        response: { 200: Shipment, 304: { type: 'null', description: 'Not modified' }, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { shipmentId } = request.params
      const { version, at } = request.query
      const timeTravel = version !== undefined || at !== undefined
      const shipment = timeTravel ? await queries.at(shipmentId, { version, at: at === undefined ? undefined : Date.parse(at) }) : await queries.get(shipmentId)
      // Time travel never invents a version: past the head there is no such shipment (yet).
      if (shipment && version !== undefined && shipment.version < version) {
        return sendProblem(reply, problem('not-found', `shipment ${shipmentId} has no version ${version} (its head is version ${shipment.version})`))
      }
      if (!shipment) {
        const when = timeTravel ? ' at that point of its history' : ''
        return sendProblem(reply, problem('not-found', `shipment ${shipmentId} is not registered${when}`))
      }
      const etag = `W/"${shipment.version}"`
      reply.header('etag', etag)
      if (!timeTravel && request.headers['if-none-match'] === etag) return reply.code(304).send(null)
      return shipment
    },
  )

  app.get(
    '/shipments/:shipmentId/events',
    {
      config: { allow: anyRole },
      schema: {
        summary: "A shipment's events in version order, a page at a time (`after` a version, `next` for the following page)",
        tags: ['shipments'],
        params: ShipmentParams,
        querystring: HistoryPageQuery,
        response: { 200: ShipmentEvents, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { shipmentId } = request.params
      const page = await queries.events(shipmentId, request.query)
      if (!page) return sendProblem(reply, problem('not-found', `shipment ${shipmentId} is not registered`))
      return { shipmentId, events: page.events, next: page.next }
    },
  )

  app.get(
    '/shipments',
    {
      config: { allow: anyRole },
      schema: {
        summary: 'Shipments by id, filtered by state and truck, a page at a time',
        tags: ['shipments'],
        querystring: ListQuery,
        response: { 200: ShipmentPage, ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const { state, truckId, limit, cursor } = request.query
      const page = await queries.list({ state, truckId, limit, after: cursor === undefined ? undefined : decodeCursor(cursor) })
      return { items: page.items, next: page.next === null ? null : encodeCursor(page.next) }
    },
  )

  app.get(
    '/events',
    {
      config: { allow: readers },
      schema: {
        summary: 'The global event feed in commit order',
        tags: ['events'],
        querystring: FeedQuery,
        response: { 200: Feed, ...problems(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      // A resume point this feed never handed out (restored or replaced database) is refused, never skipped past.
      const refused = request.query.after === undefined ? undefined : await queries.resumeProblem(request.query.after)
      if (refused) return sendProblem(reply, problem('feed-reset', refused.detail, { resumeAfter: refused.resumeAfter }))
      return queries.feed(request.query.after, request.query.limit)
    },
  )
}
