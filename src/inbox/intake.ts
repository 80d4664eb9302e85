import { createHash } from 'node:crypto'
import type { PartitionQueues } from '../queue/partition-queues.js'
import { partitionOf } from '../queue/partitions.js'
import type { Replies } from '../queue/replies.js'
import type { ShipmentQueries } from '../projections/queries.js'
import { isDatabaseUnavailable } from '../store/database.js'
import type { CommandReport } from '../worker/report.js'
import { newCommandId } from './ids.js'
import type { CommandMetadata, CommandSink, Inbox, InboxCommand } from './inbox.js'

/**
 * The command path behind the route: commit to the inbox (durable, ordered, deduplicated), wake the
 * partition, wait for the outcome. Redis being away is checked *before* anything is written, so a 503
 * never leaves a half-accepted command behind. Once the inbox commit succeeded the command will be
 * decided even if the wake-up job is lost (the owner's sweep finds it), so that case answers as usual.
 */
export interface IntakeRequest {
  readonly shipmentId: string
  /** The validated command, `type` included, without metadata fields. */
  readonly command: { readonly type: string } & Readonly<Record<string, unknown>>
  readonly metadata: CommandMetadata
  readonly idempotencyKey: string | null
  /** Canonical form of what the key protects (shipment + body), hashed for the 422 check. */
  readonly fingerprint: unknown
  readonly respondAsync: boolean
}

export type IntakeAnswer =
  | { readonly kind: 'decided'; readonly report: CommandReport; readonly replayed: boolean }
  | { readonly kind: 'queued'; readonly commandId: string; readonly replayed: boolean }
  | { readonly kind: 'key-conflict'; readonly commandId: string }
  | { readonly kind: 'unavailable'; readonly why: string }

export interface IntakeOptions {
  readonly partitions: number
  readonly replyTimeoutMs: number
  /** Admission control: above this many undecided commands, new ones are refused (503). */
  readonly maxPending: number
}

export interface IntakeDeps {
  /** Commits commands (the inbox, or the writer thread that owns it). */
  readonly sink: CommandSink
  /** Reads outcomes (any connection). */
  readonly inbox: Inbox
  readonly queues: PartitionQueues
  readonly replies: Replies
  readonly queries: ShipmentQueries
  readonly clock: () => number
  readonly log: { warn(obj: object, msg: string): void }
  /** Called after a command was durably queued (metrics). */
  readonly onQueued?: (command: InboxCommand) => void
}

export class CommandIntake {
  /** The inbox depth, counted at most every 100 ms (a count per request would cost more than it saves). */
  #depth = { at: 0, count: 0 }

  constructor(
    private readonly deps: IntakeDeps,
    private readonly options: IntakeOptions,
  ) {
    // Outcomes decided by a worker in another process arrive as ids; the report comes from SQLite.
    deps.queues.onDecided((ids) => {
      const reports: CommandReport[] = []
      for (const id of ids) {
        if (!deps.replies.isWaiting(id)) continue
        const report = this.#reportOf(id)
        if (report) reports.push(report)
      }
      deps.replies.settle(reports)
    })
  }

  async submit(request: IntakeRequest): Promise<IntakeAnswer> {
    const { sink, queues, replies, clock } = this.deps
    // A retry of a decided command is answered from the log, whatever state Redis or the backlog is in.
    const requestHash = request.idempotencyKey === null ? null : fingerprintHash(request.fingerprint)
    const known = request.idempotencyKey === null ? undefined : this.deps.inbox.byIdempotencyKey(request.metadata.deviceId, request.idempotencyKey)
    if (known) {
      if (known.requestHash !== requestHash) return { kind: 'key-conflict', commandId: known.commandId }
      const report = this.deps.queries.report(known)
      if (report) return { kind: 'decided', report, replayed: true }
    }
    if (!queues.available()) return { kind: 'unavailable', why: 'the queue (Redis) is not reachable' }
    const depth = this.#inboxDepth()
    if (depth >= this.options.maxPending) return { kind: 'unavailable', why: `${depth} commands are waiting to be decided` }
    const commandId = newCommandId(clock())
    // Listen before submitting: the cycle that commits the command may decide it at once, and its
    // report can arrive before the answer to the submission itself.
    let waiter = request.respondAsync ? null : replies.wait(commandId, this.options.replyTimeoutMs)
    const result = await sink
      .submit({
        commandId,
        streamId: request.shipmentId,
        partition: partitionOf(request.shipmentId, this.options.partitions),
        payload: request.command,
        metadata: request.metadata,
        idempotencyKey: request.idempotencyKey,
        requestHash,
        receivedAt: clock(),
      })
      .catch((error: unknown) => error as Error)
    if (result instanceof Error) {
      waiter?.cancel()
      if (isDatabaseUnavailable(result) || (result as { code?: string }).code === 'WORKER_STOPPED') return { kind: 'unavailable', why: `the database cannot take writes (${(result as { code?: string }).code})` }
      throw result
    }
    const command = result.command
    if (result.kind !== 'new') {
      waiter?.cancel()
      if (result.kind === 'conflict') return { kind: 'key-conflict', commandId: command.commandId }
      // A replay of the first command: its outcome, or wait for it like the first request did.
      waiter = request.respondAsync ? null : replies.wait(command.commandId, this.options.replyTimeoutMs)
      const report = this.#reportOf(command.commandId)
      if (report) {
        waiter?.cancel()
        return { kind: 'decided', report, replayed: true }
      }
    } else {
      this.deps.onQueued?.(command)
    }
    const replayed = result.kind === 'replay'
    if (!waiter?.settled()) {
      // Not awaited: the command is already durable, and a lost wake-up only delays it until the
      // owner's sweep. Waiting for Redis here would put its round trips on every request's latency.
      queues.wake(command.partition, { commandId: command.commandId, shipmentId: command.streamId }).catch((error: unknown) => {
        this.deps.log.warn({ err: error, commandId: command.commandId }, 'wake-up not queued; the owner sweep will pick the command up')
      })
    }
    if (!waiter) return { kind: 'queued', commandId: command.commandId, replayed }
    const report = (await waiter.promise) ?? this.#reportOf(command.commandId)
    return report ? { kind: 'decided', report, replayed } : { kind: 'queued', commandId: command.commandId, replayed }
  }

  #inboxDepth(): number {
    const now = this.deps.clock()
    if (now - this.#depth.at >= 100) this.#depth = { at: now, count: this.deps.inbox.countPending() }
    return this.#depth.count
  }

  /** The report of a decided command, from SQLite (a reply from another process, or one lost on the way). */
  #reportOf(commandId: string): CommandReport | undefined {
    const command = this.deps.inbox.get(commandId)
    return command && this.deps.queries.report(command)
  }
}

export function fingerprintHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex')
}

/** JSON with object keys sorted, so that `{a,b}` and `{b,a}` are the same request. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}
