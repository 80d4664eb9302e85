import type { Faults } from '../faults.js'
import { toStoredSnapshot, type Actor } from '../projections/actors.js'
import { commandReport, type CommandReport } from '../projections/report.js'
import { partitionOf } from '../queue/partitions.js'
import { ask, type CycleGenerator, type WritePlan } from '../store/cycle.js'
import type { InboxCommand, NewCommand, StoredEvent, StoredWait, SubmitResult } from '../store/types.js'
import { ActorCache } from './actor-cache.js'
import { handlerOf } from './handlers.js'
import type { CommandRef, Step, StepEvent } from './step.js'

/**
 * The decision cycle: read → decide → write, in ONE write transaction of the store (see
 * ../store/cycle.ts for how each adapter runs it). Generic over aggregate kinds: the kinds' handlers
 * decide (pure), the cycle reads what they need and writes what they decided.
 *
 *   1. insert the commands submitted since the last cycle (the group commit of the intake);
 *   2. take the pending commands of the partitions held, in arrival (`seq`) order, and check every
 *      partition's fencing epoch;
 *   3. hydrate the actors that are not cached (checkpoint + tail, and the stream's saga wait);
 *   4. decide each command with its kind's handler; a stream that waits for another actor's answer
 *      decides only the messages that may pass (`bypass`), the rest waits in order;
 *   5. messages to actors of partitions held here are inserted and decided in the same cycle (when the
 *      read took everything pending, so arrival order holds, and the actor is not parked); others wait
 *      for their owner's cycle (a parked actor's, until it is retried). The
 *      read leaves out a waiting stream's queued commands: a stream that waited when the cycle first
 *      saw it decides only messages that may pass (`bypass`) in this cycle, also once its wait ends
 *      here — a later message waits for the next cycle, which reads it after the queued ones;
 *   6. write events, outcomes, projections, checkpoints and waits; build the reports.
 *
 * Nothing outside the transaction changes until it commits: the drain loop settles submissions,
 * caches the actors and sends the reports only afterwards, so a failed cycle leaves no trace.
 */
export interface CycleInput {
  readonly intake: readonly NewCommand[]
  /** Partitions held, with the epoch each was granted under. */
  readonly held: ReadonlyMap<number, number>
  /** The installation's partition count (holding all allows the unfiltered pending read). */
  readonly partitions: number
  readonly batchMax: number
  /** Isolation: decide this one command only (the quarantine's cycles of one). */
  readonly only?: InboxCommand
}

export interface CycleDeps {
  readonly actors: ActorCache
  readonly clock: () => number
  readonly snapshotEvery: number
  readonly faults?: Faults
  /** Most rounds of messages decided within one cycle. */
  readonly maxRounds?: number
}

export interface DecidedCommand {
  readonly command: CommandRef
  readonly report: CommandReport
}

export interface CycleResult {
  readonly submitted: SubmitResult[]
  readonly decided: readonly DecidedCommand[]
  /** Actors after this cycle's decisions, with the epoch they were decided under. */
  readonly actors: ReadonlyMap<string, { readonly actor: Actor; readonly epoch: number }>
  /**
   * Every pending command (of the partitions held, not parked, not waiting) with `seq` up to this one
   * was decided by this cycle or before: the last seq of a full read; Infinity when it took all there was.
   */
  readonly through: number
  /** Partitions that were sent messages this cycle and must be woken (their owner may be elsewhere), with one message each. */
  readonly wake: ReadonlyMap<number, { readonly commandId: string; readonly streamId: string }>
  /**
   * The batch held a command this cycle did not take in itself: another process's intake (an API-only
   * `serve`), or this process's from before (a restart, a full batch). The drain loop lingers for more
   * of those only (see drain.ts); its own submissions wake it at once.
   */
  readonly fromInbox: boolean
}

interface Recorded {
  readonly streamId: string
  readonly late: boolean
  readonly outcome: Step['outcomes'][number]
  /** The actor after the step (accepted) or when it refused (rejected). */
  readonly actor: Actor
  readonly version: number
}

export function* decisionCycle(input: CycleInput, deps: CycleDeps): CycleGenerator<CycleResult> {
  const submitted = yield* ask({ op: 'insert', commands: input.intake })
  const none = (through: number): CycleResult => ({ submitted, decided: [], actors: new Map(), through, wake: new Map(), fromInbox: false })
  if (input.held.size === 0) return none(Infinity)

  let through: number
  let batch: InboxCommand[]
  let fromInbox = false
  if (input.only) {
    batch = [input.only]
    through = 0
  } else {
    const fresh = submitted.flatMap((r) => (r.kind === 'new' ? [r.command] : []))
    const pending = yield* ask({ op: 'pending', partitions: input.held.size >= input.partitions ? 'all' : [...input.held.keys()], limit: input.batchMax, fresh })
    through = pending.through
    // Rows of a partition not held here (only while processes disagree on WAYBILL_PARTITIONS) stay.
    batch = pending.commands.filter((c) => input.held.has(c.partition))
    const taken = new Set(fresh.map((c) => c.seq))
    fromInbox = batch.some((c) => !taken.has(c.seq))
  }
  if (batch.length === 0) return none(through)
  // Fault point (tests only): a cycle with commands to decide has begun, nothing is written yet.
  deps.faults?.at('before-commit')

  const fenced = new Set<number>()
  const now = deps.clock()
  const working = new Map<string, Actor>()
  /** Streams with a command left waiting in this cycle: their later commands wait too (order). */
  const blocked = new Set<string>()
  /**
   * Streams that waited when this cycle first saw them: the pending read left out their queued
   * commands, so none of their other commands may be decided here, even after their wait ends.
   */
  const waitedAtStart = new Set<string>()
  const appends: Array<WritePlan['appends'][number]> = []
  const outcomes: Array<WritePlan['outcomes'][number]> = []
  const snapshots: Array<WritePlan['snapshots'][number]> = []
  const waits = new Map<string, StoredWait | null>()
  const recorded: Recorded[] = []
  const wake = new Map<number, { commandId: string; streamId: string }>()
  const maxRounds = input.only ? 1 : (deps.maxRounds ?? 8)

  for (let round = 1; ; round++) {
    const unfenced = new Map([...new Set(batch.map((c) => c.partition))].filter((p) => !fenced.has(p)).map((p) => [p, input.held.get(p)!]))
    if (unfenced.size > 0) {
      // Negative control for the checkers only (WAYBILL_FAULTS=no-fence): write without the check.
      if (!deps.faults?.noFence) yield* ask({ op: 'fence', held: unfenced })
      for (const p of unfenced.keys()) fenced.add(p)
    }
    const partitionOfStream = new Map(batch.map((c) => [c.streamId, c.partition]))
    const missing = [...partitionOfStream].flatMap(([id, partition]) => {
      if (working.has(id)) return []
      const cached = deps.actors.get(id, input.held.get(partition)!)
      if (cached) {
        working.set(id, cached)
        if (cached.wait) waitedAtStart.add(id)
      }
      return cached ? [] : [id]
    })
    if (missing.length > 0) {
      for (const loaded of yield* ask({ op: 'load', streams: missing, schemas: ActorCache.schemasOf(missing) })) {
        const actor = deps.actors.hydrate(loaded)
        working.set(loaded.streamId, actor)
        if (actor.wait) waitedAtStart.add(loaded.streamId)
      }
    }
    // Versions of other streams the handlers look at (read inside this transaction).
    const parsed = new Map<InboxCommand, { readonly type: string }>()
    const peeks = new Set<string>()
    for (const command of batch) {
      const handler = handlerOf(command.streamId)
      const value = handler.parse(command)
      parsed.set(command, value)
      for (const id of handler.peeks?.(command, value, working.get(command.streamId)!) ?? []) if (!working.has(id)) peeks.add(id)
    }
    const peeked = peeks.size > 0 ? yield* ask({ op: 'peek', streams: [...peeks] }) : new Map<string, number>()
    const context = {
      now,
      version: (id: string) => working.get(id)?.version ?? peeked.get(id),
      partitionOf: (id: string) => partitionOf(id, input.partitions),
    }

    const sent: NewCommand[] = []
    for (const command of batch) {
      deps.faults?.poison(command.streamId)
      const actor = working.get(command.streamId)!
      if ((actor.wait || blocked.has(command.streamId) || waitedAtStart.has(command.streamId)) && !command.bypass) {
        blocked.add(command.streamId)
        // Its wait ended in this cycle: the next one reads its queued commands and then this one.
        if (!actor.wait) wake.set(command.partition, { commandId: command.commandId, streamId: command.streamId })
        continue
      }
      const step = handlerOf(command.streamId).decide(actor, command, parsed.get(command)!, context)
      const next = apply(command.streamId, actor, step)
      working.set(command.streamId, next)
      sent.push(...step.messages)
    }
    if (sent.length === 0) break
    const delivered = yield* ask({ op: 'insert', commands: sent })
    // Decided here only when every earlier pending command was in this cycle (arrival order), and
    // never on a parked stream: the read left its parked command out, which a message must not pass.
    const fresh = delivered.flatMap((result) => (result.kind === 'new' ? [result.command] : []))
    const here = new Set(fresh.filter((command) => input.held.has(command.partition) && through === Infinity && round < maxRounds))
    const parked = here.size > 0 ? yield* ask({ op: 'parked', streams: [...new Set([...here].map((c) => c.streamId))] }) : new Set<string>()
    const local: InboxCommand[] = []
    for (const command of fresh) {
      if (here.has(command) && !parked.has(command.streamId)) local.push(command)
      else wake.set(command.partition, { commandId: command.commandId, streamId: command.streamId })
    }
    if (local.length === 0) break
    batch = local
  }

  const written = yield* ask({ op: 'write', plan: { appends, outcomes, snapshots, waits: [...waits].map(([streamId, wait]) => ({ streamId, wait })) } })
  if (appends.length > 0) deps.faults?.at('after-events')

  const events = new Map<string, StoredEvent>(written.map((e) => [`${e.streamId}\u0000${e.version}`, e]))
  const decided = recorded.map(({ streamId, late, outcome, actor, version }): DecidedCommand => {
    const event = outcome.recordsEvent ? events.get(`${streamId}\u0000${version}`)! : null
    return {
      command: outcome.command,
      report: commandReport({
        commandId: outcome.command.commandId,
        streamId,
        type: outcome.command.type,
        outcome: outcome.status,
        reason: outcome.reason,
        detail: outcome.detail,
        actor,
        event,
        late,
      }),
    }
  })
  const actors = new Map([...working].map(([id, actor]) => [id, { actor, epoch: input.held.get(partitionOf(id, input.partitions))! }]))
  return { submitted, decided, actors, through, wake, fromInbox }

  /** Turns a step into writes; returns the actor after it. */
  function apply(streamId: string, actor: Actor, step: Step): Actor {
    let next = actor
    if (step.event) {
      // Recorded time never goes back within a stream (the wall clock may: NTP, another process's
      // clock): time travel (`?at=`) then names a prefix of the stream and dwell times are never negative.
      const recordedAt = Math.max(now, actor.updatedAt ?? now)
      const version = actor.version + 1
      appends.push({
        streamId,
        expectedVersion: actor.version,
        events: [{ type: step.event.type, data: step.event.data, metadata: eventMetadata(step.event.cause, actor) }],
        recordedAt,
      })
      next = { ...actor, snapshot: step.snapshot, version, createdAt: actor.createdAt ?? recordedAt, updatedAt: recordedAt }
      if (version % deps.snapshotEvery === 0) snapshots.push({ streamId, snapshot: toStoredSnapshot(next) })
    }
    if (step.wait !== undefined) {
      next = { ...next, wait: step.wait }
      waits.set(streamId, step.wait)
    }
    for (const outcome of step.outcomes) {
      const after = outcome.recordsEvent ? next : actor
      // Late: a refused scan made before the stream's last accepted change (overtaken while offline).
      const scannedAt = outcome.command.metadata?.scannedAt
      const late = outcome.status === 'rejected' && scannedAt !== undefined && actor.updatedAt !== null && Date.parse(scannedAt) < actor.updatedAt
      outcomes.push({
        seq: outcome.command.seq,
        commandId: outcome.command.commandId,
        outcome: { status: outcome.status, decidedState: outcome.decidedState, reason: outcome.reason, detail: outcome.detail, streamVersion: after.version, decidedAt: now, late },
        event: outcome.recordsEvent ? { streamId, version: next.version } : null,
      })
      recorded.push({ streamId, late, outcome, actor: after, version: after.version })
    }
    return next
  }
}

/** Who, where and when, recorded with every event (docs/api.md `Event.metadata`), and the state it left. */
function eventMetadata(cause: StepEvent['cause'], actor: Actor): Record<string, unknown> {
  const { deviceId, operatorId, scannedAt, requestId, causationId } = cause.metadata
  // Assigned one by one (spreads of the optional fields cost 0.5 µs per event, this 0.03 µs), in
  // the order the log has always had.
  const metadata: Record<string, unknown> = { commandId: cause.commandId, deviceId }
  if (operatorId !== undefined) metadata.operatorId = operatorId
  if (scannedAt !== undefined) metadata.scannedAt = scannedAt
  if (requestId !== undefined) metadata.requestId = requestId
  if (causationId !== undefined) metadata.causationId = causationId
  metadata.receivedAt = new Date(cause.receivedAt).toISOString()
  metadata.machineVersion = actor.kind.machineVersion
  metadata.fromState = actor.kind.stateOf(actor.snapshot)
  return metadata
}
