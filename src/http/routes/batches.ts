import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type Static } from 'typebox'
import { truckStream } from '../../../machines/kinds.js'
import type { BatchItem, BatchItemAnswer, CommandIntake } from '../../commands/intake.js'
import { findUncleanText, schemaCheck } from '../../commands/validation.js'
import { isShipmentView, isTruckView } from '../../projections/views.js'
import type { Devices, DeviceSync } from '../../store/devices.js'
import { anyRole, writers } from '../auth.js'
import { prefersAsync, rejectionProblem } from '../command-answers.js'
import { problem, sendProblem } from '../problems.js'
import { logs, round } from '../request-log.js'
import { CommandBody, EventSummary, Identifier, problems, reasonCodes, Shipment, Truck, TruckCommandBody } from '../schemas.js'

/**
 * Offline scanners (docs/api.md *Offline scanners — batch sync*): a handheld that was out of Wi-Fi
 * uploads what it scanned as one batch of numbered items, and asks what the server lacks after a crash.
 *
 * The envelope (`items`, each item's `seq`, strictly increasing) is checked by the route schema: a
 * batch that breaks it is refused whole (400). Everything else of an item is checked item by item,
 * so one malformed item is that item's 400 while the others count.
 */
declare module 'fastify' {
  interface FastifyContextConfig {
    /** The body's `items` are checked item by item (well-formed text included), not refused whole. */
    itemsCheckedAlone?: boolean
  }
}

export interface BatchRoutesOptions {
  readonly intake: CommandIntake
  readonly devices: Devices
}

/** Most items in a batch, and the body limit of this route (only). */
export const maxBatchItems = 1000
export const batchBodyLimit = 1024 * 1024

const Seq = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: "the device's own number for the scan: 1, 2, 3 … per device, never reused" })

const BatchItemIn = Type.Object(
  {
    seq: Seq,
    // Described, not checked here (no `type`): the item's own check makes a wrong one that item's 400.
    shipmentId: Type.Optional(Type.Unsafe<unknown>({ description: 'string: the shipment (an identifier, as in the path of POST /shipments/{shipmentId}/commands); exactly one of shipmentId and truckId' })),
    truckId: Type.Optional(Type.Unsafe<unknown>({ description: 'string: the truck (an identifier, as in the path of POST /trucks/{truckId}/commands)' })),
    command: Type.Optional(Type.Unsafe<unknown>({ description: 'object: a command body exactly as the single route takes it (with its scannedAt and operatorId)' })),
  },
  { additionalProperties: true, description: 'checked item by item (except `seq`): a malformed item gets its own 400 result' },
)

export const BatchBody = Type.Object(
  { items: Type.Array(BatchItemIn, { minItems: 1, maxItems: maxBatchItems, description: `1–${maxBatchItems} items, seq strictly increasing` }) },
  { additionalProperties: false, title: 'Batch' },
)

const GapList = Type.Array(Type.Tuple([Type.Integer(), Type.Integer()]), { description: 'ranges [from, to] (inclusive) of seqs below the highest the server does not have' })

const BatchItemResult = Type.Object(
  {
    seq: Type.Integer(),
    status: Type.Integer({ description: 'what the single-command route would have answered: 201/200 accepted, 202 not decided yet, 409/404 rejected, 400 malformed item, 422 seq reused' }),
    commandId: Type.Optional(Type.String({ description: 'the command the item became (none for a malformed item)' })),
    outcome: Type.Union([Type.Literal('accepted'), Type.Literal('rejected'), Type.Literal('queued')]),
    reason: Type.Optional(Type.Unsafe<string>({ type: 'string', enum: [...reasonCodes, 'invalid_request', 'seq_reused'], description: "the machine's reason, or invalid_request (a malformed item) or seq_reused" })),
    detail: Type.Optional(Type.String()),
    shipment: Type.Optional(Shipment),
    truck: Type.Optional(Truck),
    event: Type.Optional(EventSummary),
    allowed: Type.Optional(Type.Array(Type.String())),
    late: Type.Optional(Type.Literal(true, { description: "rejected, and scanned before the shipment's or truck's last accepted change (overtaken while the device was offline)" })),
    replayed: Type.Optional(Type.Literal(true, { description: 'this seq was sent before with the same body: its first result, no second effect' })),
  },
  { title: 'BatchItemResult' },
)

export const BatchResult = Type.Object(
  {
    deviceId: Type.String(),
    results: Type.Array(BatchItemResult),
    lastContiguousSeq: Type.Integer({ description: 'every seq from 1 to this one is on the server' }),
    gaps: GapList,
  },
  { title: 'BatchResult' },
)

export const DeviceSyncResult = Type.Object(
  {
    deviceId: Type.String(),
    lastContiguousSeq: Type.Integer(),
    highestSeq: Type.Integer(),
    gaps: GapList,
    lastSeenAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'when the last command or item of the device arrived; null if never' }),
  },
  { title: 'DeviceSync' },
)

const DeviceParams = Type.Object({ deviceId: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false })

const shipmentCommand = schemaCheck(CommandBody)
const truckCommand = schemaCheck(TruckCommandBody)
const identifier = schemaCheck(Identifier)
const itemKeys = new Set(['seq', 'shipmentId', 'truckId', 'command'])

/** One item, checked as its single route would check it; `malformed` says why not. */
export function itemOf(raw: Static<typeof BatchItemIn>, deviceId: string, requestId: string): BatchItem {
  const { seq, ...item } = raw as Record<string, unknown> & { seq: number }
  const malformed = (detail: string): BatchItem => ({ seq, kind: 'malformed', detail, fingerprint: item })
  const unclean = findUncleanText(item)
  if (unclean !== null) return malformed(`item${unclean} is not well-formed Unicode text (a lone surrogate or NUL)`)
  const unknown = Object.keys(item).filter((key) => !itemKeys.has(key))
  if (unknown.length > 0) return malformed(`item has unknown properties: ${unknown.join(', ')}`)
  const { shipmentId, truckId, command } = item
  if ((shipmentId === undefined) === (truckId === undefined)) return malformed('item must name exactly one of shipmentId and truckId')
  const subject = shipmentId === undefined ? { name: 'truckId', id: truckId, check: truckCommand } : { name: 'shipmentId', id: shipmentId, check: shipmentCommand }
  if (!identifier.check(subject.id)) return malformed(identifier.errors(subject.name))
  if (!subject.check.check(command)) return malformed(subject.check.errors('command'))
  const { scannedAt, operatorId, ...payload } = command
  return {
    seq,
    kind: 'command',
    streamId: shipmentId === undefined ? truckStream(subject.id) : subject.id,
    command: payload,
    metadata: { deviceId, ...(operatorId === undefined ? {} : { operatorId }), ...(scannedAt === undefined ? {} : { scannedAt }), requestId },
    fingerprint: item,
  }
}

/** An item's answer as the single route would give it, in the batch's shape. */
export function itemResult(answer: BatchItemAnswer): Static<typeof BatchItemResult> {
  const { seq } = answer
  switch (answer.kind) {
    case 'malformed':
      return { seq, status: 400, outcome: 'rejected', reason: 'invalid_request', detail: answer.detail, ...(answer.replayed ? { replayed: true } : {}) }
    case 'seq-reused':
      return {
        seq, status: 422, outcome: 'rejected', reason: 'seq_reused',
        detail: `seq ${seq} was already used for another item${answer.commandId === null ? '' : ` (command ${answer.commandId})`}`,
        ...(answer.commandId === null ? {} : { commandId: answer.commandId }),
      }
    case 'queued':
      return { seq, status: 202, commandId: answer.commandId, outcome: 'queued', ...(answer.replayed ? { replayed: true } : {}) }
    case 'decided': {
      const { report } = answer
      const replayed = answer.replayed ? { replayed: true as const } : {}
      if (report.outcome === 'accepted') {
        const view = isShipmentView(report.view) ? { shipment: report.view } : isTruckView(report.view) ? { truck: report.view } : {}
        const created = report.type === 'REGISTER' || report.type === 'OPEN'
        return { seq, status: created ? 201 : 200, commandId: report.commandId, outcome: 'accepted', ...view, ...(report.event ? { event: report.event } : {}), ...replayed }
      }
      // The same problem the single route answers, flattened into the item.
      const { status, detail, reason, shipment, truck, allowed } = rejectionProblem(report) as unknown as RejectionFields
      return {
        seq, status, commandId: report.commandId, outcome: 'rejected', reason,
        ...(detail === undefined ? {} : { detail }),
        ...(shipment ? { shipment } : {}), ...(truck ? { truck } : {}), ...(allowed ? { allowed } : {}),
        ...(report.late ? { late: true as const } : {}),
        ...replayed,
      }
    }
  }
}

type ItemResult = Static<typeof BatchItemResult>
type RejectionFields = Pick<ItemResult, 'detail' | 'shipment' | 'truck' | 'allowed'> & { readonly status: number; readonly reason: ItemResult['reason'] }

function syncBody(sync: DeviceSync) {
  return { deviceId: sync.deviceId, lastContiguousSeq: sync.lastContiguousSeq, highestSeq: sync.highestSeq, gaps: sync.gaps.map(([a, b]) => [a, b] as [number, number]), lastSeenAt: sync.lastSeenAt === null ? null : new Date(sync.lastSeenAt).toISOString() }
}

export const batchRoutes: FastifyPluginAsyncTypebox<BatchRoutesOptions> = async (app, { intake, devices }) => {
  app.post(
    '/batches',
    {
      bodyLimit: batchBodyLimit,
      config: { allow: writers, itemsCheckedAlone: true },
      // Admission before the body is read (after authentication): while the inbox is full every batch
      // is refused at once, a resend of answered items too (it is answered once the backlog is below
      // the bound; unlike a single command's retry, which is answered from the log before the check).
      // `submitBatch` checks again once the items are in.
      preParsing: async (_request, reply, payload) => {
        const full = await intake.refusesNew()
        if (full !== null) return sendProblem(reply, problem('unavailable', `${full}; the batch was not read; retry it`), { 'retry-after': '1' })
        return payload
      },
      schema: {
        summary: 'Upload scans made offline, numbered by the device (1–1000 items)',
        description:
          "Every item is durable before the answer; each gets the status its single request would have got. A seq sent before answers its first result (the same body) or 422 seq_reused (another body). `Prefer: respond-async` answers once the batch is durable, undecided items 202. Counts as one request against the per-token rate limit. Body limit 1 MiB.",
        tags: ['batches'],
        headers: Type.Object({ prefer: Type.Optional(Type.String({ maxLength: 200 })) }),
        body: BatchBody,
        response: { 200: BatchResult, ...problems(400, 401, 403, 413, 415, 429, 503) },
      },
    },
    async (request, reply) => {
      const { items } = request.body
      for (let i = 1; i < items.length; i++) {
        if (items[i]!.seq <= items[i - 1]!.seq) {
          return sendProblem(reply, problem('invalid-request', `/items/${i}/seq (${items[i]!.seq}) must be greater than /items/${i - 1}/seq (${items[i - 1]!.seq}): seqs increase strictly within a batch`))
        }
      }
      const { deviceId } = request.principal!
      const respondAsync = prefersAsync(request.headers.prefer)
      const started = performance.now()
      const answer = await intake.submitBatch({ deviceId, items: items.map((raw) => itemOf(raw, deviceId, request.id)), respondAsync })
      if (answer.kind === 'unavailable') return sendProblem(reply, problem('unavailable', `${answer.why}; retry the batch`), { 'retry-after': '1' })
      const results = answer.items.map(itemResult)
      // One line per batch at info; each item's line (the single route's `command` line) at debug.
      request.answerLogged = true
      request.log.info(
        {
          deviceId, items: items.length, first: items[0]!.seq, last: items.at(-1)!.seq, statuses: countBy(results.map((r) => r.status)),
          lastContiguousSeq: answer.sync.lastContiguousSeq, gaps: answer.sync.gaps.length, ms: round(performance.now() - started),
        },
        'batch',
      )
      if (logs(request.log, 'debug')) {
        for (const [i, result] of results.entries()) {
          const { shipmentId, truckId, command } = items[i]!
          request.log.debug(
            { deviceId, seq: result.seq, ...(truckId ? { truckId } : { shipmentId }), type: (command as { type?: unknown } | null)?.type, status: result.status, outcome: result.outcome, commandId: result.commandId, reason: result.reason },
            'batch item',
          )
        }
      }
      if (respondAsync) reply.header('preference-applied', 'respond-async')
      const { lastContiguousSeq, gaps } = syncBody(answer.sync)
      return { deviceId, results, lastContiguousSeq, gaps }
    },
  )

  app.get(
    '/devices/:deviceId/sync',
    {
      config: { allow: anyRole },
      schema: {
        summary: "What the server has of a device's numbered scans (after a crash, resend what it lacks)",
        description: 'A scanner may read its own device only (403 for another); reviewers and admins any device (404 for one never heard from).',
        tags: ['batches'],
        params: DeviceParams,
        response: { 200: DeviceSyncResult, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { deviceId } = request.params
      const principal = request.principal!
      if (principal.role === 'scanner' && principal.deviceId !== deviceId) return sendProblem(reply, problem('forbidden', 'a scanner reads its own device only'))
      const sync = await devices.sync(deviceId)
      if (principal.deviceId !== deviceId && sync.lastSeenAt === null && sync.highestSeq === 0) return sendProblem(reply, problem('not-found', `nothing was ever received from device ${deviceId}`))
      return syncBody(sync)
    },
  )
}

function countBy(values: readonly number[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1
  return counts
}
