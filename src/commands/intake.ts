import { createHash } from 'node:crypto'
import type { Faults } from '../faults.js'
import type { ShipmentQueries } from '../projections/queries.js'
import type { CommandReport } from '../projections/report.js'
import { kindOfStream } from '../../machines/kinds.js'
import { messageIds } from '../projections/sagas.js'
import { isTruckView } from '../projections/views.js'
import type { PartitionQueues } from '../queue/partition-queues.js'
import { partitionOf } from '../queue/partitions.js'
import type { DeviceItem, Devices, DeviceSync } from '../store/devices.js'
import type { Inbox } from '../store/inbox.js'
import { isDatabaseUnavailable } from '../store/sql.js'
import type { CommandMetadata, CommandPayload, InboxCommand, NewCommand, SubmitResult } from '../store/types.js'
import { newCommandId } from './ids.js'
import type { Replies } from './replies.js'

/**
 * The command path behind the route: commit to the inbox (durable, ordered, deduplicated), wake the
 * partition, wait for the outcome. The inbox commit is the acceptance; Redis only carries the wake-up
 * and, for an owner in another process, the "decided" notice. So Redis being away refuses nothing:
 * a command of a partition held here is decided in the cycle that commits it, one held elsewhere is
 * found by its owner's sweep and answered 202 after the reply timeout (or its outcome, if the sweep
 * was quicker). 503 means overload or a database that cannot take writes, never Redis.
 */
export interface IntakeRequest {
  /** The stream the command is for (a shipment's id; `truck:<id>` for a truck). */
  readonly streamId: string
  /** The validated command, `type` included, without metadata fields. */
  readonly command: CommandPayload
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

/**
 * An offline batch (docs/api.md *Offline scanners*): one device's items, `seq` strictly increasing.
 * The route has checked each item: a well-formed one carries its command, a malformed one why not.
 */
export type BatchItem =
  | { readonly seq: number; readonly kind: 'command'; readonly streamId: string; readonly command: CommandPayload; readonly metadata: CommandMetadata; readonly fingerprint: unknown }
  | { readonly seq: number; readonly kind: 'malformed'; readonly detail: string; readonly fingerprint: unknown }

export interface BatchRequest {
  readonly deviceId: string
  readonly items: readonly BatchItem[]
  readonly respondAsync: boolean
}

/** Each item's answer, in the batch's order. `replayed`: the seq was sent before, with the same body. */
export type BatchItemAnswer =
  | { readonly seq: number; readonly kind: 'decided'; readonly report: CommandReport; readonly replayed: boolean }
  | { readonly seq: number; readonly kind: 'queued'; readonly commandId: string; readonly replayed: boolean }
  | { readonly seq: number; readonly kind: 'malformed'; readonly detail: string; readonly replayed: boolean }
  /** The seq names another item of the device (`commandId`: the command it became, if it became one). */
  | { readonly seq: number; readonly kind: 'seq-reused'; readonly commandId: string | null }

export type BatchAnswer =
  | { readonly kind: 'answered'; readonly items: readonly BatchItemAnswer[]; readonly sync: DeviceSync }
  | { readonly kind: 'unavailable'; readonly why: string }

export interface IntakeOptions {
  readonly partitions: number
  readonly replyTimeoutMs: number
  /** Admission control: above this many undecided commands, new ones are refused (503). */
  readonly maxPending: number
}

/** Where the intake commits commands (the group commit of the decision cycles). */
export interface CommandSink {
  submit(command: NewCommand): Promise<SubmitResult>
  /** Commands committed together, in order (an offline batch). */
  submitAll(commands: readonly NewCommand[]): Promise<SubmitResult[]>
  /** Submissions waiting for their commit (counted by admission control). */
  backlog(): number
}

export interface IntakeDeps {
  readonly sink: CommandSink
  /** Reads outcomes. */
  readonly inbox: Inbox
  /** The devices' own numbering (offline batches). */
  readonly devices: Devices
  readonly queues: PartitionQueues
  readonly replies: Replies
  readonly queries: ShipmentQueries
  readonly clock: () => number
  readonly log: { warn(obj: object, msg: string): void }
  /** Test-only fault switches (WAYBILL_FAULTS `no-dedupe`). */
  readonly faults?: Pick<Faults, 'noDedupe'>
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
      const waiting = ids.filter((id) => deps.replies.isWaiting(id))
      if (waiting.length === 0) return
      void Promise.all(waiting.map((id) => this.#reportOf(id).catch(() => undefined))).then((reports) =>
        deps.replies.settle(reports.filter((r): r is CommandReport => r !== undefined)),
      )
    })
  }

  async submit(original: IntakeRequest): Promise<IntakeAnswer> {
    const { sink, queues, replies, clock } = this.deps
    const request = this.deps.faults?.noDedupe ? { ...original, idempotencyKey: null } : original
    // A retry of a decided command is answered from the log, whatever state Redis or the backlog is in.
    const requestHash = request.idempotencyKey === null ? null : fingerprintHash(request.fingerprint)
    const known = request.idempotencyKey === null ? undefined : await this.deps.inbox.byIdempotencyKey(request.metadata.deviceId, request.idempotencyKey)
    if (known) {
      if (known.requestHash !== requestHash) return { kind: 'key-conflict', commandId: known.commandId }
      const report = await this.deps.queries.report(known)
      if (report) return this.#answered(report, true, clock() + this.options.replyTimeoutMs, request.respondAsync)
    }
    // Undecided in the inbox plus submitted here and not yet committed: a backlog is refused at the
    // door, not queued in memory without bound.
    const full = await this.refusesNew()
    if (full !== null) return { kind: 'unavailable', why: full }
    const commandId = newCommandId(clock())
    // Listen before submitting: the cycle that commits the command may decide it at once, and its
    // report can arrive before the answer to the submission itself.
    let waiter = request.respondAsync ? null : replies.wait(commandId, this.options.replyTimeoutMs)
    const result = await sink
      .submit({
        commandId,
        streamId: request.streamId,
        partition: partitionOf(request.streamId, this.options.partitions),
        payload: request.command,
        metadata: request.metadata,
        idempotencyKey: request.idempotencyKey,
        requestHash,
        receivedAt: clock(),
      })
      .catch((error: unknown) => error as Error)
    if (result instanceof Error) {
      waiter?.cancel()
      if ((result as { code?: string }).code === 'INTAKE_FULL') return { kind: 'unavailable', why: result.message }
      if (isDatabaseUnavailable(result) || (result as { code?: string }).code === 'WORKER_STOPPED') return { kind: 'unavailable', why: `the database cannot take writes (${(result as { code?: string }).code})` }
      throw result
    }
    // Only a batch item (a device seq) can name a refused item.
    if (result.kind === 'seq-taken') throw new Error(`command ${commandId} without a device seq was answered seq-taken`)
    const command = result.command
    if (result.kind !== 'new') {
      waiter?.cancel()
      if (result.kind === 'conflict') return { kind: 'key-conflict', commandId: command.commandId }
      // A replay of the first command: its outcome, or wait for it like the first request did.
      waiter = request.respondAsync ? null : replies.wait(command.commandId, this.options.replyTimeoutMs)
      const report = await this.#reportOf(command.commandId)
      if (report) {
        waiter?.cancel()
        return this.#answered(report, true, clock() + this.options.replyTimeoutMs, request.respondAsync)
      }
    } else {
      // Counted until the next sample: within 100 ms a burst would otherwise all pass the check.
      this.#depth.count++
      this.deps.onQueued?.(command)
    }
    const replayed = result.kind === 'replay'
    if (!waiter?.settled() && queues.available()) {
      // Not awaited: the command is already durable, and a lost wake-up only delays it until the
      // owner's sweep. Waiting for Redis here would put its round trips on every request's latency.
      // While Redis is away no wake-up is tried (each would fail, and log); the sweep covers them.
      queues.wake(command.partition, { commandId: command.commandId, streamId: command.streamId }).catch((error: unknown) => {
        this.deps.log.warn({ err: error, commandId: command.commandId }, 'wake-up not queued; the owner sweep will pick the command up')
      })
    }
    if (!waiter) return { kind: 'queued', commandId: command.commandId, replayed }
    const deadline = clock() + this.options.replyTimeoutMs
    const report = (await waiter.promise) ?? (await this.#reportOf(command.commandId))
    return report ? this.#answered(report, replayed, deadline, false) : { kind: 'queued', commandId: command.commandId, replayed }
  }

  /**
   * An offline batch: every item durable before the answer (its commands committed together, in `seq`
   * order, so they are decided in that order), each answered as its single request would be. A seq
   * the device sent before is answered from the database: the same body gets its first result and
   * has no second effect; another body is `seq-reused`. Malformed items are recorded as refused, so
   * their seqs are not gaps. Waits for the outcomes up to the reply timeout (not with respondAsync).
   *
   * A truck's item is committed only once the items before it have their outcomes, and the items
   * after it once it has its own: the saga between a shipment and its truck (an ASSIGN, then the
   * truck's LOAD) would otherwise be overtaken by the truck's next command of the same batch (a
   * DEPART scanned after the ASSIGN leaving the shipment behind). With respondAsync the batch is
   * committed at once and keeps arrival order only.
   */
  async submitBatch(request: BatchRequest): Promise<BatchAnswer> {
    const { devices, clock } = this.deps
    const deadline = clock() + this.options.replyTimeoutMs
    const hashes = request.items.map((item) => fingerprintHash(item.fingerprint))
    // Negative control for the history checker only (WAYBILL_FAULTS=no-dedupe): seqs are not looked up or kept.
    const dedupe = !this.deps.faults?.noDedupe
    const known = dedupe ? await devices.items(request.deviceId, request.items.map((item) => item.seq)) : new Map<number, DeviceItem>()
    /** Each item's answer (by index), or its outcome still to come. */
    const answers = new Map<number, BatchItemAnswer | Promise<BatchItemAnswer>>()
    const fresh: Array<{ index: number; seq: number; command: NewCommand }> = []
    const refusals: Array<{ index: number; seq: number; requestHash: string; detail: string }> = []
    request.items.forEach((item, index) => {
      const sent = known.get(item.seq)
      if (sent) answers.set(index, this.#sentBefore(item.seq, sent, hashes[index]!, request.respondAsync, deadline))
      else if (item.kind === 'malformed') refusals.push({ index, seq: item.seq, requestHash: hashes[index]!, detail: item.detail })
      else {
        const receivedAt = clock()
        const { streamId } = item
        const payload = item.command
        fresh.push({
          index,
          seq: item.seq,
          command: { commandId: newCommandId(receivedAt), streamId, partition: partitionOf(streamId, this.options.partitions), payload, metadata: item.metadata, idempotencyKey: null, requestHash: hashes[index]!, receivedAt, ...(dedupe ? { deviceSeq: item.seq } : {}) },
        })
      }
    })
    const full = fresh.length > 0 ? await this.refusesNew() : null
    if (full !== null) return { kind: 'unavailable', why: `${full}; the batch was not recorded` }
    const taken: number[] = []
    for (const [r, run] of runsOf(fresh, request.respondAsync).entries()) {
      // The items before have their outcomes (or the reply timeout passed) before this run is committed.
      if (r > 0) await Promise.all(answers.values())
      const committed = await this.#commitRun(run, request.respondAsync, deadline)
      if (committed.kind === 'unavailable') return { kind: 'unavailable', why: `${committed.why}${r > 0 ? '; the items before were recorded' : ''}` }
      for (const [index, answer] of committed.answers) answers.set(index, answer)
      taken.push(...committed.taken)
    }
    // Refused items (and the device's watermark) in one write; a seq taken meanwhile names what took it.
    const refused = await devices.refuse(request.deviceId, refusals, clock()).catch((error: unknown) => error as Error)
    if (refused instanceof Error) {
      if (isDatabaseUnavailable(refused)) return { kind: 'unavailable', why: `the batch's refused items were not recorded (${(refused as { code?: string }).code})` }
      throw refused
    }
    for (const { index, seq, requestHash } of refusals) {
      const item = refused.get(seq)!
      answers.set(index, item.commandId === null && item.requestHash === requestHash ? { seq, kind: 'malformed', detail: item.refusal ?? '', replayed: false } : this.#sentBefore(seq, item, requestHash, request.respondAsync, deadline))
    }
    const again = await devices.items(request.deviceId, taken.map((index) => request.items[index]!.seq))
    for (const index of taken) answers.set(index, this.#sentBefore(request.items[index]!.seq, again.get(request.items[index]!.seq)!, hashes[index]!, request.respondAsync, deadline))
    const items = await Promise.all(request.items.map((item, index) => answers.get(index) ?? unreachable(item.seq)))
    return { kind: 'answered', items, sync: await devices.sync(request.deviceId) }
  }

  /** Commits one run of a batch's new commands; their answers (outcomes to come), and the items whose seq a refusal holds. */
  async #commitRun(
    run: ReadonlyArray<{ index: number; seq: number; command: NewCommand }>,
    respondAsync: boolean,
    deadline: number,
  ): Promise<{ kind: 'unavailable'; why: string } | { kind: 'committed'; answers: Map<number, BatchItemAnswer | Promise<BatchItemAnswer>>; taken: number[] }> {
    const { sink, replies, clock } = this.deps
    // Listen before submitting (the cycle that commits them may decide them at once).
    const waiters = new Map(respondAsync ? [] : run.map(({ command }) => [command.commandId, replies.wait(command.commandId, Math.max(0, deadline - clock()))] as const))
    const results = await sink.submitAll(run.map((f) => f.command)).catch((error: unknown) => error as Error)
    if (results instanceof Error) {
      for (const w of waiters.values()) w.cancel()
      const code = (results as { code?: string }).code
      if (code === 'INTAKE_FULL' || code === 'WORKER_STOPPED' || isDatabaseUnavailable(results)) return { kind: 'unavailable', why: `the batch was not recorded (${code})` }
      throw results
    }
    const answers = new Map<number, BatchItemAnswer | Promise<BatchItemAnswer>>()
    const taken: number[] = []
    results.forEach((result, i) => {
      const { index, seq, command } = run[i]!
      if (result.kind === 'new') {
        this.#depth.count++
        this.deps.onQueued?.(result.command)
        answers.set(index, this.#outcome(seq, command.commandId, false, waiters.get(command.commandId), respondAsync, deadline))
        return
      }
      waiters.get(command.commandId)?.cancel()
      if (result.kind === 'seq-taken') taken.push(index)
      // Another request with this seq committed first (a resend racing its original).
      else answers.set(index, this.#sentBefore(seq, { commandId: result.command.commandId, requestHash: result.command.requestHash ?? '' }, command.requestHash!, respondAsync, deadline))
    })
    this.#wakeAll(results.flatMap((r) => (r.kind === 'new' ? [r.command] : [])))
    return { kind: 'committed', answers, taken }
  }

  /** A seq the device sent before: its first result (same body) or `seq-reused` (another body). */
  #sentBefore(
    seq: number,
    sent: { readonly commandId: string | null; readonly requestHash: string; readonly refusal?: string | null },
    requestHash: string,
    respondAsync: boolean,
    deadline: number,
  ): BatchItemAnswer | Promise<BatchItemAnswer> {
    if (sent.requestHash !== requestHash) return { seq, kind: 'seq-reused', commandId: sent.commandId }
    if (sent.commandId === null) return { seq, kind: 'malformed', detail: sent.refusal ?? '', replayed: true }
    const waiter = respondAsync ? undefined : this.deps.replies.wait(sent.commandId, Math.max(0, deadline - this.deps.clock()))
    return this.#outcome(seq, sent.commandId, true, waiter, respondAsync, deadline)
  }

  /** An item's outcome: from its waiter, else from the store; a departure once its load has shipped. */
  async #outcome(seq: number, commandId: string, replayed: boolean, waiter: ReturnType<Replies['wait']> | undefined, respondAsync: boolean, deadline: number): Promise<BatchItemAnswer> {
    // A command sent before may be decided already: the store first, then (unless async) its waiter.
    let report = replayed ? await this.#reportOf(commandId) : undefined
    if (!report && !respondAsync) report = (await waiter?.promise) ?? (await this.#reportOf(commandId))
    waiter?.cancel()
    if (!report) return { seq, kind: 'queued', commandId, replayed }
    const answer = await this.#answered(report, replayed, deadline, respondAsync)
    return answer.kind === 'decided' ? { seq, kind: 'decided', report, replayed } : { seq, kind: 'queued', commandId, replayed }
  }

  /** One wake-up per partition the commands went to (Redis may be away: the owners' sweeps find them). */
  #wakeAll(commands: readonly InboxCommand[]): void {
    if (commands.length === 0 || !this.deps.queues.available()) return
    const first = new Map<number, InboxCommand>()
    for (const command of commands) if (!first.has(command.partition)) first.set(command.partition, command)
    for (const command of first.values()) {
      this.deps.queues.wake(command.partition, { commandId: command.commandId, streamId: command.streamId }).catch((error: unknown) => {
        this.deps.log.warn({ err: error, commandId: command.commandId }, 'wake-up not queued; the owner sweep will pick the command up')
      })
    }
  }

  /**
   * A decided command's answer. A departure is answered once every shipment on its manifest has
   * shipped (each one's DEPART_SHIP decided, by whichever process owns it); until then — within the
   * reply timeout — it is still `queued` (202), like any command not decided in time.
   */
  async #answered(report: CommandReport, replayed: boolean, deadline: number, respondAsync: boolean): Promise<IntakeAnswer> {
    const queued = { kind: 'queued', commandId: report.commandId, replayed } as const
    const fanOut = fanOutOf(report)
    if (fanOut.length === 0) return { kind: 'decided', report, replayed }
    const { replies, inbox, clock } = this.deps
    // Waiters first, then the store: a child decided in between is seen by one or the other.
    const waiters = respondAsync ? [] : fanOut.map((id) => replies.wait(id, Math.max(0, deadline - clock())))
    const children = await Promise.all(fanOut.map((id) => inbox.get(id)))
    const open = fanOut.filter((_, i) => children[i]?.status === 'pending' || children[i] === undefined)
    waiters.forEach((w, i) => !open.includes(fanOut[i]!) && w.cancel())
    if (open.length === 0) return { kind: 'decided', report, replayed }
    if (respondAsync) return queued
    const settled = await Promise.all(waiters.filter((_, i) => open.includes(fanOut[i]!)).map((w) => w.promise))
    return settled.every((r) => r !== null) ? { kind: 'decided', report, replayed } : queued
  }

  /**
   * Why no new command is taken in now, or null: the undecided commands in the inbox plus those
   * submitted here and not yet committed, against `maxPending`. `submit` and `submitBatch` apply it;
   * the batch route also looks before reading a body (a batch refused after its 1000 items were
   * parsed, checked and hashed costs nearly what a decided one does).
   */
  async refusesNew(): Promise<string | null> {
    const depth = (await this.#inboxDepth()) + this.deps.sink.backlog()
    return depth >= this.options.maxPending ? `${depth} commands are waiting to be decided` : null
  }

  async #inboxDepth(): Promise<number> {
    const now = this.deps.clock()
    // Parked shipments' commands wait for an admin: one parked backlog must not throttle everyone.
    // Counted at most every 100 ms, by one request at a time (the others use the last count).
    if (now - this.#depth.at >= 100) {
      this.#depth = { at: now, count: this.#depth.count }
      this.#depth = { at: now, count: await this.deps.inbox.countWaiting() }
    }
    return this.#depth.count
  }

  /** The report of a decided command, from the store (a reply from another process, or one lost on the way). */
  async #reportOf(commandId: string): Promise<CommandReport | undefined> {
    const command = await this.deps.inbox.get(commandId)
    return command && this.deps.queries.report(command)
  }
}

/** The messages a decided command's answer waits for: a departure's DEPART_SHIP to each shipment on it. */
export function fanOutOf(report: CommandReport): string[] {
  if (report.kind !== 'truck' || report.type !== 'DEPART' || report.outcome !== 'accepted' || !isTruckView(report.view)) return []
  return report.view.manifest.map((shipmentId) => messageIds.ship(report.commandId, shipmentId))
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

function unreachable(seq: number): never {
  throw new Error(`batch item ${seq} has no answer`)
}

/**
 * A batch's new commands in runs committed one after the other: a truck's item alone, between the
 * items before and after it (see submitBatch). With respondAsync: one run.
 */
function runsOf<T extends { readonly command: NewCommand }>(fresh: readonly T[], respondAsync: boolean): T[][] {
  if (respondAsync) return fresh.length === 0 ? [] : [[...fresh]]
  const runs: T[][] = []
  let current: T[] = []
  for (const item of fresh) {
    if (kindOfStream(item.command.streamId).name === 'truck') {
      if (current.length > 0) runs.push(current)
      runs.push([item])
      current = []
    } else current.push(item)
  }
  if (current.length > 0) runs.push(current)
  return runs
}
