import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises'
import { decide, machineVersion, stateOf, type ShipmentCommand } from '../../machines/shipment/index.js'
import type { Faults } from '../faults.js'
import type { CommandSink, Inbox, InboxCommand, NewCommand, SubmitResult } from '../inbox/inbox.js'
import type { Parking } from '../inbox/parking.js'
import type { Projector } from '../projections/projection.js'
import { isDatabaseUnavailable, type Db } from '../store/database.js'
import type { EventStore } from '../store/event-store.js'
import { FencedError, type PartitionEpochs } from '../store/fencing.js'
import { actorFacts, toStoredSnapshot, type Actor, type ActorCache } from './actor.js'
import { commandReport, type CommandReport } from './report.js'

export interface WorkerOptions {
  /** The partition count (WAYBILL_PARTITIONS): holding them all allows the unfiltered pending query. */
  readonly partitions: number
  readonly batchMax: number
  readonly snapshotEvery: number
  /** After a partial batch, look again after this pause (0: stop until the next kick). */
  readonly lingerMs: number
  /** Failed attempts at one command before its shipment is parked. */
  readonly maxAttempts: number
  /** How long a submission may wait for the database (locked by another process) before it fails. */
  readonly intakeWaitMs: number
}

export interface WorkerDeps {
  readonly db: Db
  readonly store: EventStore
  readonly inbox: Inbox
  readonly epochs: PartitionEpochs
  readonly projector: Projector
  readonly parking: Parking
  readonly actors: ActorCache
  readonly faults?: Faults
  readonly clock: () => number
  readonly log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void }
  /** Called after each commit with the reports of the commands it decided. */
  readonly onDecided: (reports: readonly CommandReport[], commands: readonly InboxCommand[]) => void
  /** Called when a write found the partition claimed by a newer owner. */
  readonly onFenced?: (partition: number) => void
  /** Called when a shipment was parked. */
  readonly onParked?: (command: InboxCommand, error: string) => void
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
  /** When it was submitted (the intake wait counts from here). */
  readonly since: number
}

/**
 * The one place where the pure machine meets I/O. Each cycle is ONE `BEGIN IMMEDIATE` transaction
 * (group commit: one fsync): it inserts the commands submitted since the last cycle into the inbox,
 * takes the pending commands of the partitions this process holds in arrival (`seq`) order, checks
 * every partition's fencing epoch, decides each command against its shipment's actor, and writes
 * events + outcomes + projections + snapshots.
 *
 * Nothing outside the transaction changes until it commits: submissions are answered, decided actors
 * are cached and the reports are sent only afterwards (the cache may learn committed state it read
 * inside the transaction), so a failed cycle leaves no trace and is simply retried, in order (its
 * submissions are first committed on their own).
 */
export class Worker implements CommandSink {
  readonly #held = new Map<number, number>()
  readonly #cycle: (intake: readonly NewCommand[], only?: InboxCommand) => Cycle
  #intake: Submission[] = []
  #requested = false
  #running: Promise<void> | null = null
  #waiters: Array<() => void> = []
  #stopped = false
  /** Ends a backoff early: new submissions are tried (and answered) at once, not after the pause. */
  #interrupt: (() => void) | null = null

  constructor(
    private readonly deps: WorkerDeps,
    private readonly options: WorkerOptions,
  ) {
    const transaction = deps.db.transaction((intake: readonly NewCommand[], only?: InboxCommand): Cycle => {
      deps.faults?.at('before-commit')
      const submitted = deps.inbox.insertAll(intake)
      const batch = only ? [only] : this.#pending(submitted)
      const decided = this.#decideAll(batch)
      if (batch.length > 0) deps.faults?.at('after-events')
      return { submitted, batch, decided }
    })
    this.#cycle = (intake, only) => transaction.immediate(intake, only)
  }

  /**
   * Commits a command to the inbox in the next cycle (with that cycle's decisions) and resolves once
   * it is durable. If this worker holds the command's partition, that cycle may already decide it.
   */
  submit(command: NewCommand): Promise<SubmitResult> {
    if (this.#stopped) return Promise.reject(Object.assign(new Error('the worker is stopping'), { code: 'WORKER_STOPPED' }))
    return new Promise((resolve, reject) => {
      this.#intake.push({ command, resolve, reject, since: this.deps.clock() })
      this.#interrupt?.()
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

  /**
   * One drain loop at a time. A kick that lands while the loop is finishing (between its last look
   * and `#running` being cleared) starts the next loop here, so no kick is ever lost; an unexpected
   * error is logged and answered by a retry a second later instead of ending the process.
   */
  async #loop(): Promise<void> {
    try {
      // Start on the next turn, so that everything submitted in this one shares the first cycle.
      await yieldToEventLoop()
      await this.#passes()
    } catch (error) {
      this.deps.log.error({ err: error }, 'worker loop failed; retrying in a second')
      setTimeout(() => void this.kick(), 1000).unref()
    } finally {
      this.#running = null
      if (this.#requested && !this.#stopped) this.#running = this.#loop()
    }
  }

  /**
   * Drains while there is work. A full batch, or commands already submitted, start the next cycle at
   * once; after a partial batch everything pending when the current waiters asked is decided (they are
   * released) and, with nothing submitted, the worker lingers `lingerMs` and looks again, so under load
   * the commands arriving meanwhile form the next batch without a round trip through Redis; it stops
   * at the first idle look.
   */
  async #passes(): Promise<void> {
    let failures = 0
    let asked: Array<() => void> = []
    while (!this.#stopped) {
      this.#requested = false
      asked = asked.concat(this.#waiters.splice(0))
      const intake = this.#intake.splice(0, this.options.batchMax)
      let cycle: Cycle
      try {
        cycle = this.#cycle(intake.map((s) => s.command))
        failures = 0
      } catch (error) {
        this.#commitIntakeAlone(intake)
        if (error instanceof FencedError) {
          this.#fenced(error)
          continue
        }
        failures++
        if (isDatabaseUnavailable(error)) {
          this.deps.log.warn({ err: error, failures }, 'database unavailable; retrying in place')
        } else {
          this.deps.log.error({ err: error, failures }, 'decision cycle failed; finding the command that fails')
          // A cached actor may be what fails (a stream written elsewhere): hydrate afresh.
          this.deps.actors.clear()
          await this.#isolate()
        }
        await this.#backoff(failures, error)
        continue
      }
      this.#committed(intake, cycle)
      if (cycle.batch.length === this.options.batchMax || this.#intake.length >= this.options.batchMax) {
        await yieldToEventLoop()
        continue
      }
      for (const resolve of asked.splice(0)) resolve()
      const idle = cycle.batch.length === 0 && intake.length === 0 && this.#intake.length === 0
      if (idle && !this.#requested) break
      if (idle || this.options.lingerMs === 0) {
        if (this.#intake.length === 0 && !this.#requested) break
        await yieldToEventLoop()
      } else if (this.#intake.length > 0) {
        // Commands already wait: the next cycle starts at once (after this turn's I/O has added to it).
        await yieldToEventLoop()
      } else {
        await sleep(this.options.lingerMs)
      }
    }
    for (const resolve of asked) resolve()
    if (this.#stopped) {
      for (const resolve of this.#waiters.splice(0)) resolve()
      for (const s of this.#intake.splice(0)) s.reject(Object.assign(new Error('the worker stopped'), { code: 'WORKER_STOPPED' }))
    }
  }

  /**
   * Waits before the next attempt. A new submission cuts the wait short (so a full disk answers it at
   * once), except while the database is locked: each attempt then waits in SQLite's busy handler.
   */
  async #backoff(failures: number, error: unknown): Promise<void> {
    const locked = /^SQLITE_(BUSY|LOCKED)/.test(String((error as { code?: unknown }).code))
    let timer: NodeJS.Timeout | undefined
    await new Promise<void>((resolve) => {
      if (!locked) this.#interrupt = resolve
      timer = setTimeout(resolve, Math.min(1000, 10 * 2 ** Math.min(failures, 7)))
    })
    clearTimeout(timer)
    this.#interrupt = null
  }

  /** After a committed cycle: answer submissions, remember actors, report decisions. */
  #committed(intake: Submission[], cycle: Cycle): void {
    this.deps.faults?.at('after-commit')
    intake.forEach((s, i) => s.resolve(cycle.submitted[i]!))
    for (const [streamId, { actor, epoch }] of cycle.decided.actors) this.deps.actors.set(streamId, actor, epoch)
    if (cycle.batch.length > 0) this.deps.onDecided(cycle.decided.reports, cycle.batch)
  }

  #fenced(error: FencedError): void {
    this.revoke(error.partition)
    this.deps.onFenced?.(error.partition)
    this.deps.log.warn({ err: error, partition: error.partition }, 'partition taken over by another worker')
  }

  /**
   * After a failed cycle its submissions are committed on their own. While the database is locked
   * (another process) they wait, in order, up to `intakeWaitMs`; other errors refuse them (503).
   */
  #commitIntakeAlone(intake: Submission[]): void {
    if (intake.length === 0) return
    try {
      const results = this.deps.inbox.submitNow(...intake.map((s) => s.command))
      intake.forEach((s, i) => s.resolve(results[i]!))
    } catch (error) {
      const code = (error as { code?: string }).code ?? ''
      const now = this.deps.clock()
      const waiting = code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED') ? intake.filter((s) => now - s.since < this.options.intakeWaitMs) : []
      for (const s of intake) if (!waiting.includes(s)) s.reject(error)
      this.#intake.unshift(...waiting)
    }
  }

  /**
   * A cycle failed for a reason that may be one command's: decide the pending commands one per
   * transaction, in order, up to the first that fails. That command's failure is counted; at
   * `maxAttempts` its shipment is parked, so that the others flow while an admin looks at it.
   */
  async #isolate(): Promise<void> {
    for (const command of this.#pending()) {
      try {
        this.#committed([], this.#cycle([], command))
      } catch (error) {
        if (error instanceof FencedError) return this.#fenced(error)
        if (isDatabaseUnavailable(error)) return
        this.deps.actors.delete(command.streamId)
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
        try {
          const attempts = this.deps.inbox.recordFailure(command.commandId, message)
          this.deps.log.error({ err: error, commandId: command.commandId, shipmentId: command.streamId, attempts }, 'command failed')
          if (attempts >= this.options.maxAttempts) {
            this.deps.parking.park(command.streamId, command.commandId, message, attempts, this.deps.clock())
            this.deps.log.error({ commandId: command.commandId, shipmentId: command.streamId, attempts }, 'shipment parked: its command keeps failing')
            this.deps.onParked?.(command, message)
          }
        } catch (bookkeeping) {
          this.deps.log.error({ err: bookkeeping }, 'could not record the failed attempt')
        }
        return
      }
    }
  }

  /** Pending commands of the partitions held (always filtered: rows of another partition count never match). */
  /**
   * Pending commands of the partitions held, in arrival order. Holding every partition, only the
   * `seq`s are read and the commands just inserted in this cycle are taken as they are (no row read,
   * no JSON parsed); rows of a partition not held are left out (only possible while processes
   * disagree on WAYBILL_PARTITIONS).
   */
  #pending(fresh: readonly SubmitResult[] = []): InboxCommand[] {
    if (this.#held.size === 0) return []
    if (this.#held.size < this.options.partitions) return this.deps.inbox.pending(this.options.batchMax, [...this.#held.keys()])
    const known = new Map(fresh.filter((r) => r.kind === 'new').map((r) => [r.command.seq, r.command]))
    const batch: InboxCommand[] = []
    for (const seq of this.deps.inbox.pendingSeqs(this.options.batchMax)) {
      const command = known.get(seq) ?? this.deps.inbox.bySeq(seq)
      if (command && this.#held.has(command.partition)) batch.push(command)
    }
    return batch
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
      this.deps.faults?.poison(command.streamId)
      const epoch = this.#held.get(command.partition)!
      const actor = working.get(command.streamId)?.actor ?? actors.get(command.streamId, epoch)
      const decision = decide(actor.snapshot, command.payload as unknown as ShipmentCommand)
      if (decision.outcome === 'rejected') {
        inbox.recordOutcome(command, {
          status: 'rejected',
          decidedState: decision.state,
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
      const [event] = store.append(
        command.streamId,
        actor.version,
        [{ type: decision.event.type, data: decision.event.data, metadata: eventMetadata(command, stateOf(actor.snapshot)) }],
        now,
      )
      const next: Actor = { snapshot: decision.snapshot, version: event!.version, registeredAt: actor.registeredAt ?? now, updatedAt: now }
      projector.apply([event!])
      if (next.version % this.options.snapshotEvery === 0) store.saveSnapshot(command.streamId, toStoredSnapshot(next))
      inbox.recordOutcome(command, {
        status: 'accepted',
        decidedState: stateOf(actor.snapshot),
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

/** Who, where and when, recorded with every event (API.md `Event.metadata`), and the state it left. */
function eventMetadata(command: InboxCommand, fromState: string): Record<string, unknown> {
  const { deviceId, operatorId, scannedAt, requestId } = command.metadata
  return {
    commandId: command.commandId,
    deviceId,
    ...(operatorId === undefined ? {} : { operatorId }),
    ...(scannedAt === undefined ? {} : { scannedAt }),
    ...(requestId === undefined ? {} : { requestId }),
    receivedAt: new Date(command.receivedAt).toISOString(),
    machineVersion,
    fromState,
  }
}

