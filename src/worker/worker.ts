import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises'
import { decide, machineVersion, type ShipmentCommand } from '../../machines/shipment/index.js'
import type { Inbox, InboxCommand } from '../inbox/inbox.js'
import type { Projector } from '../projections/projection.js'
import type { Db } from '../store/database.js'
import type { EventStore } from '../store/event-store.js'
import { FencedError, type PartitionEpochs } from '../store/fencing.js'
import { actorFacts, toStoredSnapshot, type Actor, type ActorCache } from './actor.js'
import { commandReport, type CommandReport } from './report.js'

/**
 * The one place where the pure machine meets I/O. A drain pass takes the pending inbox commands of the
 * partitions this process holds, in arrival (`seq`) order, decides each against its shipment's actor,
 * and writes events + outcomes + projections + snapshots in ONE `BEGIN IMMEDIATE` transaction that
 * first checks every partition's fencing epoch (group commit: one fsync for the whole batch).
 *
 * Nothing outside the transaction changes until it commits: the actor cache is updated and the replies
 * are sent only afterwards, so a failed batch leaves no trace and is simply retried, in order.
 */
export interface WorkerOptions {
  readonly partitions: number
  readonly batchMax: number
  readonly snapshotEvery: number
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

export class Worker {
  readonly #held = new Map<number, number>()
  readonly #decideBatch: (batch: readonly InboxCommand[]) => Decided
  #requested = false
  #running: Promise<void> | null = null
  #waiters: Array<() => void> = []
  #stopped = false

  constructor(
    private readonly deps: WorkerDeps,
    private readonly options: WorkerOptions,
  ) {
    const transaction = deps.db.transaction((batch: readonly InboxCommand[]) => this.#decideAll(batch))
    this.#decideBatch = (batch) => transaction.immediate(batch)
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
      await this.#passes()
    } finally {
      this.#running = null
    }
  }

  async #passes(): Promise<void> {
    let failures = 0
    while (this.#requested && !this.#stopped) {
      this.#requested = false
      const waiters = this.#waiters.splice(0)
      for (;;) {
        if (this.#stopped) break
        const batch = this.#pending()
        if (batch.length === 0) break
        try {
          const decided = this.#decideBatch(batch)
          failures = 0
          for (const [streamId, { actor, epoch }] of decided.actors) this.deps.actors.set(streamId, actor, epoch)
          this.deps.onDecided(decided.reports, batch)
        } catch (error) {
          if (error instanceof FencedError) {
            this.revoke(error.partition)
            this.deps.onFenced?.(error.partition)
            this.deps.log.warn({ err: error, partition: error.partition }, 'partition taken over by another worker')
            continue
          }
          failures++
          this.deps.log.error({ err: error, batch: batch.length, failures }, 'decision batch failed; retrying in place')
          await sleep(Math.min(1000, 10 * 2 ** Math.min(failures, 7)))
          continue
        }
        if (batch.length < this.options.batchMax) break
        await yieldToEventLoop()
      }
      for (const resolve of waiters) resolve()
      await yieldToEventLoop()
    }
    for (const resolve of this.#waiters.splice(0)) if (this.#stopped) resolve()
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

