import type { FastifyReply, FastifyRequest } from 'fastify'
import type { CommandIntake, IntakeAnswer } from '../commands/intake.js'
import { subjectOf } from '../projections/queries.js'
import type { CommandReport } from '../projections/report.js'
import { isShipmentView, isTruckView } from '../projections/views.js'
import type { CommandPayload } from '../store/types.js'
import { problem, sendProblem, type ProblemBody, type ProblemCode } from './problems.js'
import { logs, round } from './request-log.js'

/**
 * What every command route does, for every kind: take the command in (scan metadata beside it,
 * the Idempotency-Key, `Prefer: respond-async`), log one line, and answer — 201/200 (accepted), the
 * kind's problem (rejected), 202 (queued), 422 (key reused), 503 (not recorded).
 */
export interface Scanned {
  readonly scannedAt?: string
  readonly operatorId?: string
}

/** RFC 7240: `Prefer: respond-async` (alone or among other preferences). */
export function prefersAsync(prefer: string | undefined): boolean {
  return prefer !== undefined && prefer.split(',').some((p) => p.trim().split(';')[0]!.trim().toLowerCase() === 'respond-async')
}

export async function takeCommand(
  intake: CommandIntake,
  request: FastifyRequest<{ Headers: { 'idempotency-key'?: string; prefer?: string } }>,
  streamId: string,
  body: Scanned & CommandPayload,
  fingerprint: unknown,
): Promise<IntakeAnswer> {
  const { scannedAt, operatorId, ...command } = body
  const started = performance.now()
  const answer = await intake.submit({
    streamId,
    command,
    metadata: {
      deviceId: request.principal!.deviceId,
      ...(operatorId === undefined ? {} : { operatorId }),
      ...(scannedAt === undefined ? {} : { scannedAt }),
      requestId: request.id,
    },
    idempotencyKey: request.headers['idempotency-key'] ?? null,
    fingerprint,
    respondAsync: prefersAsync(request.headers.prefer),
  })
  // The one line per command an operator traces a scan by (the request id is the logger's `reqId`).
  request.answerLogged = true
  if (logs(request.log, 'info')) {
    request.log.info(
      {
        deviceId: request.principal!.deviceId, ...subjectOf(streamId), type: command.type, answer: answer.kind,
        ...('commandId' in answer ? { commandId: answer.commandId } : {}),
        ...(answer.kind === 'decided' ? { commandId: answer.report.commandId, outcome: answer.report.outcome, reason: answer.report.reason } : {}),
        ms: round(performance.now() - started),
      },
      'command',
    )
  }
  return answer
}

export function sendAnswer(
  request: FastifyRequest<{ Headers: { 'idempotency-key'?: string; prefer?: string } }>,
  reply: FastifyReply,
  answer: IntakeAnswer,
  shape: { accepted(report: CommandReport): FastifyReply; rejected(report: CommandReport): ProblemBody },
): FastifyReply {
  if (prefersAsync(request.headers.prefer)) reply.header('preference-applied', 'respond-async')
  if ('replayed' in answer && answer.replayed) reply.header('idempotent-replayed', 'true')
  switch (answer.kind) {
    case 'unavailable':
      return sendProblem(reply, problem('unavailable', `${answer.why}; the command was not recorded, retry it`), { 'retry-after': '1' })
    case 'key-conflict':
      return sendProblem(reply, problem('idempotency-key-reused', `Idempotency-Key ${request.headers['idempotency-key']} was used for a different request (command ${answer.commandId})`))
    case 'queued':
      return reply.code(202).header('location', `/commands/${answer.commandId}`).send({ commandId: answer.commandId, outcome: 'queued' as const })
    case 'decided':
      return answer.report.outcome === 'accepted' ? shape.accepted(answer.report) : sendProblem(reply, shape.rejected(answer.report))
  }
}

/** Each kind's rejection reasons as problem codes (anything else: invalid-transition). */
const problemOfReason: Record<string, Record<string, ProblemCode>> = {
  shipment: {
    invalid_transition: 'invalid-transition',
    already_registered: 'already-registered',
    same_truck: 'same-truck',
    truck_full: 'truck-full',
    truck_departed: 'truck-departed',
    awaiting_departure: 'awaiting-departure',
    not_found: 'shipment-not-found',
    discarded: 'command-discarded',
  },
  truck: {
    invalid_transition: 'invalid-transition',
    already_registered: 'truck-already-open',
    not_found: 'truck-not-found',
    discarded: 'command-discarded',
  },
}

/**
 * A rejected command's problem: 404 for a command to a shipment or truck that does not exist (no
 * aggregate in it, never an empty object), 409 with the aggregate when refused and what it allowed.
 */
export function rejectionProblem(report: CommandReport): ProblemBody {
  const code = problemOfReason[report.kind]?.[report.reason ?? ''] ?? 'invalid-transition'
  const base = { commandId: report.commandId, outcome: 'rejected', reason: report.reason }
  if (code === 'shipment-not-found' || code === 'truck-not-found') return problem(code, report.detail ?? undefined, base)
  const view = isShipmentView(report.view) ? { shipment: report.view } : isTruckView(report.view) ? { truck: report.view } : {}
  return problem(code, report.detail ?? undefined, { ...base, ...view, allowed: report.allowed })
}
