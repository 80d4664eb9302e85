import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { truckStream } from '../../../machines/kinds.js'
import { truckChart } from '../../../machines/truck/index.js'
import type { CommandIntake } from '../../commands/intake.js'
import type { ShipmentQueries } from '../../projections/queries.js'
import type { TruckQueries } from '../../projections/truck-queries.js'
import { isTruckView } from '../../projections/views.js'
import { anyRole, writers } from '../auth.js'
import { rejectionProblem, sendAnswer, takeCommand } from '../command-answers.js'
import { problem, sendProblem } from '../problems.js'
import { CommandHeaders, HistoryPageQuery, problems, Queued, ShipmentQuery, Truck, TruckCommandBody, TruckEvents, TruckListQuery, TruckPage, TruckParams, TruckResult } from '../schemas.js'

/**
 * Trucks (docs/api.md, *Trucks — an actor of their own*): a truck opened at a dock is an actor with
 * its own statechart and stream. Its commands go through the same intake as a shipment's (the
 * Idempotency-Key, `Prefer: respond-async`, the 202 fallback); a DEPART is answered once every
 * shipment on its manifest has shipped.
 */
export interface TruckRoutesOptions {
  readonly intake: CommandIntake
  readonly trucks: TruckQueries
  readonly queries: ShipmentQueries
}

const encodeCursor = (id: string) => Buffer.from(id, 'utf8').toString('base64url')
const decodeCursor = (cursor: string) => Buffer.from(cursor, 'base64url').toString('utf8')

export const truckRoutes: FastifyPluginAsyncTypebox<TruckRoutesOptions> = async (app, { intake, trucks, queries }) => {
  app.post(
    '/trucks/:truckId/commands',
    {
      config: { allow: writers },
      schema: {
        summary: 'Send a command to a truck (OPEN at a dock, DEPART with its load, RETURN)',
        description: 'A DEPART is answered (200) once every shipment on the manifest has shipped; 202 if that takes longer than the reply timeout.',
        tags: ['trucks'],
        params: TruckParams,
        headers: CommandHeaders,
        body: TruckCommandBody,
        response: { 200: TruckResult, 201: TruckResult, 202: Queued, ...problems(400, 401, 403, 404, 409, 413, 415, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const { truckId } = request.params
      const answer = await takeCommand(intake, request, truckStream(truckId), request.body, ['truck', truckId, request.body])
      return sendAnswer(request, reply, answer, {
        accepted: (report) => {
          const { view: truck, event } = report
          if (!isTruckView(truck) || !event) throw new Error(`accepted command ${report.commandId} has no truck or event`)
          return reply
            .code(report.type === 'OPEN' ? 201 : 200)
            .header('location', `/trucks/${truckId}`)
            .send({ commandId: report.commandId, outcome: 'accepted' as const, truck, event })
        },
        rejected: rejectionProblem,
      })
    },
  )

  app.get(
    '/trucks/:truckId',
    {
      config: { allow: anyRole },
      schema: {
        summary: 'A truck now, or as it was (?version=N, ?at=ISO time)',
        tags: ['trucks'],
        params: TruckParams,
        querystring: ShipmentQuery,
        response: { 200: Truck, 304: { type: 'null', description: 'Not modified' }, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { truckId } = request.params
      const { version, at } = request.query
      const timeTravel = version !== undefined || at !== undefined
      const truck = timeTravel ? await trucks.at(truckId, { version, at: at === undefined ? undefined : Date.parse(at) }) : await trucks.get(truckId)
      if (truck && version !== undefined && truck.version < version) {
        return sendProblem(reply, problem('not-found', `truck ${truckId} has no version ${version} (its head is version ${truck.version})`))
      }
      if (!truck) return sendProblem(reply, problem('not-found', `truck ${truckId} was not opened${timeTravel ? ' at that point of its history' : ''}`))
      const etag = `W/"${truck.version}"`
      reply.header('etag', etag)
      if (!timeTravel && request.headers['if-none-match'] === etag) return reply.code(304).send(null)
      return truck
    },
  )

  app.get(
    '/trucks/:truckId/events',
    {
      config: { allow: anyRole },
      schema: {
        summary: "A truck's events in version order, a page at a time",
        tags: ['trucks'],
        params: TruckParams,
        querystring: HistoryPageQuery,
        response: { 200: TruckEvents, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { truckId } = request.params
      const page = await queries.events(truckStream(truckId), request.query)
      if (!page) return sendProblem(reply, problem('not-found', `truck ${truckId} was not opened`))
      return { truckId, events: page.events, next: page.next }
    },
  )

  app.get(
    '/trucks',
    {
      config: { allow: anyRole },
      schema: { summary: 'Trucks by id, filtered by state, a page at a time', tags: ['trucks'], querystring: TruckListQuery, response: { 200: TruckPage, ...problems(400, 401, 403) } },
    },
    async (request) => {
      const { state, limit, cursor } = request.query
      const page = await trucks.list({ state, limit, after: cursor === undefined ? undefined : decodeCursor(cursor) })
      return { items: page.items, next: page.next === null ? null : encodeCursor(page.next) }
    },
  )

  app.get(
    '/machines/truck',
    {
      config: { allow: anyRole },
      schema: {
        summary: 'The truck state machine as data (states, transitions with command, event, guard; messages from shipments marked internal)',
        tags: ['process map'],
        response: { 200: Type.Unsafe<typeof truckChart>({ type: 'object', additionalProperties: true }), ...problems(401, 403) },
      },
    },
    async () => truckChart,
  )
}
