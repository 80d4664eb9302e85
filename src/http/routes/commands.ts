import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { CommandIntake } from '../../commands/intake.js'
import { subjectOf, type ShipmentQueries } from '../../projections/queries.js'
import { commandTypeOf } from '../../projections/report.js'
import { isShipmentView, isTruckView } from '../../projections/views.js'
import type { Inbox } from '../../store/inbox.js'
import { anyRole, writers } from '../auth.js'
import { rejectionProblem, sendAnswer, takeCommand } from '../command-answers.js'
import { problem, sendProblem } from '../problems.js'
import { CommandBody, CommandHeaders, CommandParams, CommandResult, CommandStatus, problems, Queued, reasonOf, ShipmentParams } from '../schemas.js'

/**
 * Thin routes: validate → build the command → hand it to the intake → shape the reply.
 */
export interface CommandRoutesOptions {
  readonly intake: CommandIntake
  readonly inbox: Inbox
  readonly queries: ShipmentQueries
}

export const commandRoutes: FastifyPluginAsyncTypebox<CommandRoutesOptions> = async (app, { intake, inbox, queries }) => {
  app.post(
    '/shipments/:shipmentId/commands',
    {
      config: { allow: writers },
      schema: {
        summary: 'Send a command to a shipment',
        tags: ['commands'],
        params: ShipmentParams,
        headers: CommandHeaders,
        body: CommandBody,
        response: { 200: CommandResult, 201: CommandResult, 202: Queued, ...problems(400, 401, 403, 404, 409, 413, 415, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const { shipmentId } = request.params
      const answer = await takeCommand(intake, request, shipmentId, request.body, [shipmentId, request.body])
      return sendAnswer(request, reply, answer, {
        accepted: (report) => {
          const { view: shipment, event } = report
          // An accepted command always has its event and the shipment after it (commandReport).
          if (!isShipmentView(shipment) || !event) throw new Error(`accepted command ${report.commandId} has no shipment or event`)
          return reply
            .code(report.type === 'REGISTER' ? 201 : 200)
            .header('location', `/shipments/${shipmentId}`)
            .send({ commandId: report.commandId, outcome: 'accepted' as const, shipment, event })
        },
        rejected: rejectionProblem,
      })
    },
  )

  app.get(
    '/commands/:commandId',
    {
      config: { allow: anyRole },
      schema: {
        summary: "A command's outcome (where a 202 pointed)",
        tags: ['commands'],
        params: CommandParams,
        response: { 200: CommandStatus, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const command = await inbox.get(request.params.commandId)
      const principal = request.principal!
      // A scanner sees the commands it sent; other devices' commands do not exist for it.
      if (!command || (principal.role === 'scanner' && command.metadata.deviceId !== principal.deviceId)) {
        return sendProblem(reply, problem('not-found', `no command ${request.params.commandId}`))
      }
      // The recorded event is one key lookup; only a rejection is hydrated, for the shipment as it was
      // when refused (a checkpoint plus a bounded tail, see hydrateUntil).
      const event = await queries.eventOf(command)
      const report = command.status === 'rejected' ? await queries.report(command) : undefined
      return {
        commandId: command.commandId,
        ...subjectOf(command.streamId),
        type: commandTypeOf(command.type, command.commandId),
        outcome: command.status === 'pending' ? ('queued' as const) : command.status,
        ...(command.reason === null ? {} : { reason: reasonOf(command.reason) }),
        ...(command.detail === null ? {} : { detail: command.detail }),
        ...(event ? { event } : {}),
        // A rejection polled here says as much as the synchronous 409: the shipment when it was
        // refused and what it allowed (not for an unknown shipment, as on the 404).
        ...(report && report.outcome === 'rejected' && isShipmentView(report.view) ? { shipment: report.view, allowed: [...report.allowed] } : {}),
        ...(report && report.outcome === 'rejected' && isTruckView(report.view) ? { truck: report.view, allowed: [...report.allowed] } : {}),
        receivedAt: new Date(command.receivedAt).toISOString(),
        ...(command.decidedAt === null ? {} : { decidedAt: new Date(command.decidedAt).toISOString() }),
      }
    },
  )
}
