import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises'
import { decide, machineVersion, type ShipmentCommand } from '../../machines/shipment/index.js'
import type { CommandSink, Inbox, InboxCommand, NewCommand, SubmitResult } from '../inbox/inbox.js'
import type { Projector } from '../projections/projection.js'
import type { Db } from '../store/database.js'
import type { EventStore } from '../store/event-store.js'
import { FencedError, type PartitionEpochs } from '../store/fencing.js'
import { actorFacts, toStoredSnapshot, type Actor, type ActorCache } from './actor.js'
import { commandReport, type CommandReport } from './report.js'

/**
 * The one place where the pure machine meets I/O. Each cycle is ONE `BEGIN IMMEDIATE` transaction
 * (group commit: one fsync): it inserts the commands submitted since the last cycle into the inbox,
 * takes the pending commands of the partitions this process holds in arrival (`seq`) order, checks
 * every partition's fencing epoch, decides each command against its shipment's actor, and writes
 * events + outcomes + projections + snapshots.
 *
 * Nothing outside the transaction changes until it commits: submissions are answered, the actor cache
 * is updated and the reports are sent only afterwards, so a failed cycle leaves no trace and is simply
 * retried, in order (its submissions are first committed on their own).
 */
export interface WorkerOptions {
  readonly partitions: number
  readonly batchMax: number
  readonly snapshotEvery: number
  /** After a partial batch, look again after this pause (0: stop until the next kick). */
  readonly lingerMs: number
}

export interface WorkerDeps {
  readonly db: Db
  readonly store: EventStore
  readonly inbox: Inbox
  readonly epochs: PartitionEpochs
  readonly projector: Projector
  readonly actors: ActorCache
  readonly clock: () => number
  readonly log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void }
  /** Called after each commit with the reports of the commands it decided. */
  readonly onDecided: (reports: readonly CommandReport[], commands: readonly InboxCommand[]) => void
  /** Called when a write found the partition claimed by a newer owner. */
  readonly onFenced?: (partition: number) => void
}

interface Decided {
  readonly reports: CommandReport[]
  readonly actors: Map<string, { actor: Actor; epoch: number }>
}

interface Cycle {
  readonly submitted: SubmitResult[]
  readonly batch: InboxCommand[]
  readonly decided: Decided
}

interface Submission {
  readonly command: NewCommand
  readonly resolve: (result: SubmitResult) => void
  readonly reject: (error: unknown) => void
}

export class Worker implements CommandSink {
  readonly #held = new Map<number, number>()
  readonly #cycle: (intake: readonly NewCommand[]) => Cycle
  #intake: Submission[] = []
  #requested = false
  #running: Promise<void> | null = null
  #waiters: Array<() => void> = []
  #stopped = false

  constructor(
    private readonly deps: WorkerDeps,
    private readonly options: WorkerOptions,
  ) {
    const transaction = deps.db.transaction((intake: readonly NewCommand[]): Cycle => {
      const submitted = deps.inbox.insertAll(intake)
      const batch = this.#pending()
      return { submitted, batch, decided: this.#decideAll(batch) }
    })
    this.#cycle = (intake) => transaction.immediate(intake)
  }

  /**
   * Commits a command to the inbox in the next cycle (with that cycle's decisions) and resolves once
   * it is durable. If this worker holds the command's partition, that cycle may already decide it.
   */
  submit(command: NewCommand): Promise<SubmitResult> {
    if (this.#stopped) return Promise.reject(Object.assign(new Error('the worker is stopping'), { code: 'WRITER_UNAVAILABLE' }))
    return new Promise((resolve, reject) => {
      this.#intake.push({ command, resolve, reject })
      void this.kick()
    })
  }

  /** This process now owns `partition` under `epoch` (the cache of older epochs is void). */
  grant(partition: number, epoch: number): void {
    this.#held.set(partition, epoch)
  }

  revoke(partition: number): void {
    this.#held.delete(partition)
  }

  held(): ReadonlyMap<number, number> {
    return this.#held
  }

  /**
   * Asks for a drain pass. Resolves when every command that was pending in a held partition when the
   * call was made has been decided (or the worker stops).
   */
  kick(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiters.push(resolve)
      this.#requested = true
      this.#running ??= this.#loop()
    })
  }

  /** Stops after the batch in progress; pending commands stay in the inbox for the next owner. */
  async stop(): Promise<void> {
    this.#stopped = true
    await this.#running
    for (const resolve of this.#waiters.splice(0)) resolve()
  }

  /** `#running` is cleared in the same synchronous step that sees no further request (no lost kick). */
  async #loop(): Promise<void> {
    try {
      // Start on the next turn, so that everything submitted in this one shares the first cycle.
      await yieldToEventLoop()
      await this.#passes()
    } finally {
      this.#running = null
    }
  }

  /**
   * Drains while there is work. A full batch is followed at once by the next; after a partial batch
   * (everything pending when the waiters asked is decided, so they are released) the worker lingers
   * `lingerMs` and looks again, so under load the commands committed meanwhile form the next batch
   * without a round trip through Redis; it stops at the first empty look.
   */
  async #passes(): Promise<void> {
    let failures = 0
    while (this.#requested && !this.#stopped) {
      this.#requested = false
      const waiters = this.#waiters.splice(0)
      for (;;) {
        if (this.#stopped) break
        const intake = this.#intake.splice(0, this.options.batchMax)
        let cycle: Cycle
        try {
          cycle = this.#cycle(intake.map((s) => s.command))
          failures = 0
        } catch (error) {
          this.#commitIntakeAlone(intake)
          if (error instanceof FencedError) {
            this.revoke(error.partition)
            this.deps.onFenced?.(error.partition)
            this.deps.log.warn({ err: error, partition: error.partition }, 'partition taken over by another worker')
            continue
          }
          failures++
          this.deps.log.error({ err: error, failures }, 'decision cycle failed; retrying in place')
          await sleep(Math.min(1000, 10 * 2 ** Math.min(failures, 7)))
          continue
        }
        intake.forEach((s, i) => s.resolve(cycle.submitted[i]!))
        for (const [streamId, { actor, epoch }] of cycle.decided.actors) this.deps.actors.set(streamId, actor, epoch)
        if (cycle.batch.length > 0) this.deps.onDecided(cycle.decided.reports, cycle.batch)
        if (cycle.batch.length === this.options.batchMax || this.#intake.length >= this.options.batchMax) {
          await yieldToEventLoop()
          continue
        }
        // Everything pending when the waiters asked is decided.
        for (const resolve of waiters.splice(0)) resolve()
        const idle = cycle.batch.length === 0 && intake.length === 0 && this.#intake.length === 0
        if (idle || (this.options.lingerMs === 0 && this.#intake.length === 0)) break
        if (this.options.lingerMs === 0) await yieldToEventLoop()
        else await sleep(this.options.lingerMs)
      }
      for (const resolve of waiters) resolve()
      await yieldToEventLoop()
    }
    for (const resolve of this.#waiters.splice(0)) if (this.#stopped) resolve()
    for (const s of this.#intake.splice(0)) s.reject(Object.assign(new Error('the worker stopped'), { code: 'WRITER_UNAVAILABLE' }))
  }

  /** After a failed cycle its submissions still get committed (or refused) on their own. */
  #commitIntakeAlone(intake: Submission[]): void {
    if (intake.length === 0) return
    try {
      const results = this.deps.inbox.submitNow(...intake.map((s) => s.command))
      intake.forEach((s, i) => s.resolve(results[i]!))
    } catch (error) {
      for (const s of intake) s.reject(error)
    }
  }

  #pending(): InboxCommand[] {
    if (this.#held.size === 0) return []
    const all = this.#held.size === this.options.partitions
    return this.deps.inbox.pending(this.options.batchMax, all ? undefined : [...this.#held.keys()])
  }

  /** Runs inside the write transaction: no await, no side effect outside SQLite. */
  #decideAll(batch: readonly InboxCommand[]): Decided {
    const { store, inbox, epochs, projector, actors } = this.deps
    const now = this.deps.clock()
    for (const partition of new Set(batch.map((c) => c.partition))) {
      epochs.assertHeld(partition, this.#held.get(partition) ?? -1)
    }
    const working = new Map<string, { actor: Actor; epoch: number }>()
    const reports: CommandReport[] = []
    for (const command of batch) {
      const epoch = this.#held.get(command.partition)!
      const actor = working.get(command.streamId)?.actor ?? actors.get(command.streamId, epoch)
      const decision = decide(actor.snapshot, command.payload as unknown as ShipmentCommand)
      if (decision.outcome === 'rejected') {
        inbox.recordOutcome(command.commandId, {
          status: 'rejected',
          reason: decision.reason,
          detail: decision.detail,
          streamVersion: actor.version,
          eventPosition: null,
          decidedAt: now,
        })
        reports.push(
          commandReport({ ...identity(command), outcome: 'rejected', reason: decision.reason, detail: decision.detail, facts: actorFacts(command.streamId, actor), event: null }),
        )
        continue
      }
      const [event] = store.append(command.streamId, actor.version, [{ type: decision.event.type, data: decision.event.data, metadata: eventMetadata(command) }], now)
      const next: Actor = { snapshot: decision.snapshot, version: event!.version, registeredAt: actor.registeredAt ?? now, updatedAt: now }
      projector.apply([event!])
      if (next.version % this.options.snapshotEvery === 0) store.saveSnapshot(command.streamId, toStoredSnapshot(next))
      inbox.recordOutcome(command.commandId, {
        status: 'accepted',
        reason: null,
        detail: null,
        streamVersion: next.version,
        eventPosition: event!.position,
        decidedAt: now,
      })
      working.set(command.streamId, { actor: next, epoch })
      reports.push(commandReport({ ...identity(command), outcome: 'accepted', reason: null, detail: null, facts: actorFacts(command.streamId, next), event: event! }))
    }
    return { reports, actors: working }
  }
}

function identity(command: InboxCommand) {
  return { commandId: command.commandId, shipmentId: command.streamId, type: command.type }
}

/** Who, where and when, recorded with every event (API.md `Event.metadata`). */
function eventMetadata(command: InboxCommand): Record<string, unknown> {
  const { deviceId, operatorId, scannedAt, requestId } = command.metadata
  return {
    commandId: command.commandId,
    deviceId,
    ...(operatorId === undefined ? {} : { operatorId }),
    ...(scannedAt === undefined ? {} : { scannedAt }),
    ...(requestId === undefined ? {} : { requestId }),
    receivedAt: new Date(command.receivedAt).toISOString(),
    machineVersion,
  }
}

