import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { CommandIntake } from '../../inbox/intake.js'
import type { Inbox } from '../../inbox/inbox.js'
import type { ShipmentQueries } from '../../projections/queries.js'
import type { CommandReport } from '../../worker/report.js'
import { anyRole, writers } from '../auth.js'
import { problem, sendProblem, type ProblemCode } from '../problems.js'
import { CommandBody, CommandHeaders, CommandParams, CommandResult, CommandStatus, problems, Queued, ShipmentParams } from '../schemas.js'

/**
 * Thin routes: validate → build the command → hand it to the intake → shape the reply.
 */
export interface CommandRoutesOptions {
  readonly intake: CommandIntake
  readonly inbox: Inbox
  readonly queries: ShipmentQueries
}

const problemOfReason: Record<string, ProblemCode> = {
  invalid_transition: 'invalid-transition',
  already_registered: 'already-registered',
  same_truck: 'same-truck',
  not_found: 'shipment-not-found',
}

/** RFC 7240: `Prefer: respond-async` (alone or among other preferences). */
function prefersAsync(prefer: string | undefined): boolean {
  return prefer !== undefined && prefer.split(',').some((p) => p.trim().split(';')[0]!.trim().toLowerCase() === 'respond-async')
}

/** 404 for a command to an unknown shipment, 409 with the shipment and `allowed` otherwise. */
function rejectionProblem(report: CommandReport) {
  const code = problemOfReason[report.reason ?? ''] ?? 'invalid-transition'
  const base = { commandId: report.commandId, outcome: 'rejected', reason: report.reason }
  const extensions = code === 'shipment-not-found' ? base : { ...base, shipment: report.shipment, allowed: report.allowed }
  return problem(code, report.detail ?? undefined, extensions)
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
      const { scannedAt, operatorId, ...command } = request.body
      const key = request.headers['idempotency-key'] ?? null
      const respondAsync = prefersAsync(request.headers.prefer)
      const answer = await intake.submit({
        shipmentId,
        command,
        metadata: {
          deviceId: request.principal!.deviceId,
          ...(operatorId === undefined ? {} : { operatorId }),
          ...(scannedAt === undefined ? {} : { scannedAt }),
          requestId: request.id,
        },
        idempotencyKey: key,
        fingerprint: [shipmentId, request.body],
        respondAsync,
      })
      request.log.info(
        {
          shipmentId, type: command.type, answer: answer.kind,
          ...('commandId' in answer ? { commandId: answer.commandId } : {}),
          ...(answer.kind === 'decided' ? { commandId: answer.report.commandId, outcome: answer.report.outcome, reason: answer.report.reason } : {}),
        },
        'command',
      )
      if (respondAsync) reply.header('preference-applied', 'respond-async')
      if ('replayed' in answer && answer.replayed) reply.header('idempotent-replayed', 'true')
      switch (answer.kind) {
        case 'unavailable':
          return sendProblem(reply, problem('unavailable', `${answer.why}; the command was not recorded, retry it`), { 'retry-after': '1' })
        case 'key-conflict':
          return sendProblem(reply, problem('idempotency-key-reused', `Idempotency-Key ${key} was used for a different request (command ${answer.commandId})`))
        case 'queued':
          return reply
            .code(202)
            .header('location', `/commands/${answer.commandId}`)
            .send({ commandId: answer.commandId, outcome: 'queued' as const })
        case 'decided': {
          const { report } = answer
          if (report.outcome === 'accepted') {
            return reply
              .code(report.type === 'REGISTER' ? 201 : 200)
              .header('location', `/shipments/${shipmentId}`)
              .send({ commandId: report.commandId, outcome: 'accepted', shipment: report.shipment!, event: report.event! } as never)
          }
          return sendProblem(reply, rejectionProblem(report))
        }
      }
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
      const command = inbox.get(request.params.commandId)
      const principal = request.principal!
      // A scanner sees the commands it sent; other devices' commands do not exist for it.
      if (!command || (principal.role === 'scanner' && command.metadata.deviceId !== principal.deviceId)) {
        return sendProblem(reply, problem('not-found', `no command ${request.params.commandId}`))
      }
      const report = queries.report(command)
      return {
        commandId: command.commandId,
        shipmentId: command.streamId,
        type: command.type as never,
        outcome: command.status === 'pending' ? ('queued' as const) : command.status,
        ...(command.reason === null ? {} : { reason: command.reason }),
        ...(command.detail === null ? {} : { detail: command.detail }),
        ...(report?.event ? { event: report.event as never } : {}),
        receivedAt: new Date(command.receivedAt).toISOString(),
        ...(command.decidedAt === null ? {} : { decidedAt: new Date(command.decidedAt).toISOString() }),
      }
    },
  )
}
