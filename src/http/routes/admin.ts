import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Parking, ParkedStream } from '../../store/parking.js'
import { problem, sendProblem } from '../problems.js'
import { problems, ShipmentParams } from '../schemas.js'

export interface AdminRoutesOptions {
  readonly parking: Parking
  readonly clock: () => number
  /** Called after a shipment was unparked, so its commands flow again at once. */
  readonly onUnparked: () => void
}

const Parked = Type.Object({
  shipmentId: Type.String(),
  commandId: Type.String(),
  type: Type.String(),
  error: Type.String(),
  attempts: Type.Integer(),
  parkedAt: Type.String({ format: 'date-time' }),
  waiting: Type.Integer({ description: 'pending commands of the shipment, the parked one included' }),
})

const admin = ['admin'] as const

/** Dead letters: shipments whose oldest command kept failing for an infrastructure reason. */
/** A parked stream in the API's words (a shipment's stream id is its shipment id). */
const shown = ({ streamId, ...rest }: ParkedStream) => ({ shipmentId: streamId, ...rest })

export const adminRoutes: FastifyPluginAsyncTypebox<AdminRoutesOptions> = async (app, { parking, clock, onUnparked }) => {
  app.get(
    '/admin/parked',
    {
      config: { allow: admin },
      schema: { summary: 'Parked shipments (dead letters)', tags: ['admin'], response: { 200: Type.Object({ items: Type.Array(Parked) }), ...problems(401, 403) } },
    },
    async () => ({ items: (await parking.list()).map(shown) }),
  )

  app.post(
    '/admin/parked/:shipmentId/retry',
    {
      config: { allow: admin },
      schema: { summary: 'Unpark a shipment: its command is tried again', tags: ['admin'], params: ShipmentParams, response: { 200: Parked, ...problems(400, 401, 403, 404) } },
    },
    async (request, reply) => {
      const parked = await parking.retry(request.params.shipmentId)
      if (!parked) return sendProblem(reply, problem('not-found', `shipment ${request.params.shipmentId} is not parked`))
      request.log.warn({ shipmentId: parked.streamId, commandId: parked.commandId, by: request.principal!.deviceId }, 'parked shipment retried')
      onUnparked()
      return shown(parked)
    },
  )

  app.post(
    '/admin/parked/:shipmentId/discard',
    {
      config: { allow: admin },
      schema: {
        summary: "Discard a parked shipment's failing command (it becomes a rejection, reason `discarded`)",
        tags: ['admin'],
        params: ShipmentParams,
        response: { 200: Parked, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { shipmentId } = request.params
      const parked = await parking.discard(shipmentId, request.principal!.deviceId, clock())
      if (!parked) return sendProblem(reply, problem('not-found', `shipment ${shipmentId} is not parked`))
      request.log.warn({ shipmentId, commandId: parked.commandId, by: request.principal!.deviceId }, 'parked command discarded')
      onUnparked()
      return shown(parked)
    },
  )
}
