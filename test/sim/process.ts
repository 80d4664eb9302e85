import { GroupCommit } from '../../src/commands/group-commit.js'
import { CommandIntake } from '../../src/commands/intake.js'
import { Replies } from '../../src/commands/replies.js'
import { ActorCache } from '../../src/decisions/actor-cache.js'
import { DrainLoop } from '../../src/decisions/drain.js'
import { Ownership } from '../../src/decisions/ownership.js'
import { Quarantine } from '../../src/decisions/quarantine.js'
import { InjectedFault, type Faults, type FaultPoint } from '../../src/faults.js'
import { FeedHub } from '../../src/projections/feed-hub.js'
import { ShipmentQueries } from '../../src/projections/queries.js'
import type { PartitionQueues } from '../../src/queue/partition-queues.js'
import { RedisUnavailableError } from '../../src/queue/redis.js'
import type { Storage } from '../../src/storage.js'
import { openSimStorage } from './storage.js'
import { FencedError, type CycleGenerator, type CycleOp } from '../../src/store/cycle.js'
import { isDatabaseUnavailable } from '../../src/store/sql.js'
import type { Store } from '../../src/store/store.js'
import { SimQueues, type RedisPeer, type SimRedis } from './redis.js'
import type { Owner, Scheduler } from './scheduler.js'

/**
 * One simulated Waybill process (`serve`: API and worker): its own SQLite connection to the shared
 * file, its own simulated Redis connection, and the real decision core wired as src/service.ts wires
 * it — drain loop, group commit, quarantine, actor cache, ownership (leases and fencing epochs),
 * intake, replies, the event feed hub.
 *
 * Every store call of the process goes through a facade that can crash the process before or after
 * it (an await point), fail a write as a locked or full database would, and, once the process is
 * dead, never answers (a killed process does nothing more); the decision cycle's operations are
 * wrapped so that it can die between any two of them (the transaction rolls back). A crash drops
 * the process's tasks, timers and connection: only what committed stays.
 */
export class SimulatedCrash extends Error {
  override readonly name = 'SimulatedCrash'
}

export interface ProcessConfig {
  readonly partitions: number
  readonly batchMax: number
  readonly snapshotEvery: number
  readonly actorCacheSize: number
  readonly replyTimeoutMs: number
  readonly leaseMs: number
  readonly tickMs: number
  readonly maxAttempts: number
  readonly noFence: boolean
  readonly noDedupe: boolean
  /** Every process claims every partition, leases or not (WAYBILL_FAULTS=ignore-leases): split brain, only the fence protects. */
  readonly ignoreLeases: boolean
}

/** What the simulated world gives a process. */
export interface ProcessWorld {
  readonly sched: Scheduler
  readonly redis: SimRedis
  readonly file: string
  /** Epoch ms at simulated time 0. */
  readonly epoch: number
  readonly config: ProcessConfig
  /** A point was reached: true to crash there. */
  reach(process: SimProcess, label: string): boolean
  /** A fault point: true to throw an InjectedFault there (a failure the process survives). */
  fail(process: SimProcess, point: FaultPoint): boolean
  /** A store write about to start: an error to fail it with (locked, full), or null. */
  transient(process: SimProcess, method: string): Error | null
  /** Something the process logged that no injected fault explains. */
  anomaly(process: SimProcess, text: string): void
  died(process: SimProcess, how: 'crash' | 'stop'): void
  /** The story of a replay (verbose only). */
  readonly log?: (line: string) => void
}

/** A promise that never settles (a fresh one each time: one shared promise would keep every waiter alive). */
const hang = <T>(): Promise<T> => new Promise<T>(() => {})

/** The store's parts whose methods are I/O (wrapped); everything else is passed through. */
const ioParts = new Set(['sql', 'events', 'inbox', 'epochs', 'parking', 'devices', 'installation'])
/** Store calls that write (and so may find the database locked or full). */
const writes = new Set(['store.cycle', 'store.submit', 'epochs.claim', 'devices.refuse', 'inbox.recordFailure', 'parking.park'])

export class SimProcess implements RedisPeer {
  readonly owner: Owner
  /** Clock offset from the true time (steps back and forward). */
  skew = 0
  readonly clock = () => Math.trunc(this.world.epoch + this.world.sched.now + this.skew)
  raw!: Storage
  store!: Store
  queries!: ShipmentQueries
  queues!: SimQueues
  replies!: Replies
  actors!: ActorCache
  intakeCommit!: GroupCommit
  worker!: DrainLoop
  ownership!: Ownership
  intake!: CommandIntake
  feed!: FeedHub
  faults!: Faults
  /** Ready to take requests (started, not dead). */
  ready = false
  #closing = false

  constructor(
    readonly world: ProcessWorld,
    readonly name: string,
  ) {
    this.owner = world.sched.owner(name)
  }

  get alive(): boolean {
    return this.owner.alive
  }

  point(label: string): boolean {
    return this.alive && this.world.reach(this, label)
  }

  /** kill -9: nothing of this process runs again; its connection is closed (an open transaction rolls back). */
  crash(): void {
    if (!this.alive) return
    this.#teardown()
    this.world.died(this, 'crash')
  }

  /** The end of a run: the process goes away without it counting as a fault. */
  halt(): void {
    if (this.alive) this.#teardown()
  }

  #teardown(): void {
    this.ready = false
    this.owner.kill()
    this.world.redis.peerDied(this)
    // After the microtasks of the current task: a cycle that threw is rolled back by then.
    this.world.sched.atBoundary(() => void this.raw?.close().catch(() => {}))
  }

  /** A clean stop (SIGTERM): hands its partitions back, then goes away. */
  async stop(): Promise<void> {
    if (!this.alive || this.#closing) return
    this.#closing = true
    this.ready = false
    await this.ownership.stop().catch(() => {})
    await this.queues.close().catch(() => {})
    if (!this.alive) return
    this.#teardown()
    this.world.died(this, 'stop')
  }

  /** Opens the connection and starts everything, as `waybill serve` does. Resolves when it serves. */
  async start(): Promise<void> {
    const { world } = this
    const { config } = world
    this.raw = await openSimStorage(world.file)
    if (!this.alive) return void this.raw.close()
    // No power loss is simulated (a crash keeps what committed): fsync buys nothing here.
    ;(this.raw.store as unknown as { db: { pragma(s: string): unknown } }).db.pragma('synchronous = OFF')
    this.store = this.#facade(this.raw.store, 'store')
    this.queries = new ShipmentQueries(this.store)
    this.queues = new SimQueues(world.redis, this)
    const queues = this.queues as unknown as PartitionQueues
    const log = this.#log()
    const clock = this.clock
    this.faults = {
      at: (point) => this.#at(point),
      poison: () => {},
      ignoreLeases: config.ignoreLeases,
      noFence: config.noFence,
      noDedupe: config.noDedupe,
    }
    this.replies = new Replies()
    this.feed = new FeedHub(this.store.events, { faults: this.faults, pollMs: 500, chunk: 16 })
    this.actors = new ActorCache({ size: config.actorCacheSize })
    this.intakeCommit = new GroupCommit({ maxIntake: 10_000, clock })
    const store = this.store
    const quarantine = new Quarantine({ store, actors: this.actors, clock, log }, { maxAttempts: config.maxAttempts, batchMax: config.batchMax })
    const intakeWaitMs = Math.max(2000, config.replyTimeoutMs)
    this.worker = new DrainLoop(
      {
        store, intake: this.intakeCommit, actors: this.actors, quarantine, clock, log, faults: this.faults,
        onDecided: (decided) => {
          const reports = decided.map((d) => d.report)
          world.log?.(`${this.name} decided ${decided.map((d) => `${d.command.seq}:${d.report.subjectId}:${d.report.type}:${d.report.outcome}${d.report.reason ? `:${d.report.reason}` : ''}`).join(' ')}`)
          const remote = reports.filter((r) => !this.replies.isWaiting(r.commandId)).map((r) => r.commandId)
          this.replies.settle(reports)
          if (reports.some((r) => r.event)) this.feed.poke()
          if (remote.length) queues.publishDecided(remote).catch(() => {})
        },
        onMessages: (wake) => {
          if (!queues.available()) return
          for (const [partition, job] of wake) queues.wake(partition, job).catch(() => {})
        },
        onFenced: (partition) => {
          world.log?.(`${this.name} fenced out of partition ${partition}`)
          void this.ownership.drop(partition)
        },
      },
      { partitions: config.partitions, batchMax: config.batchMax, snapshotEvery: config.snapshotEvery, lingerMs: 0, intakeWaitMs },
    )
    if (world.log) {
      const { grant, revoke } = { grant: this.worker.grant.bind(this.worker), revoke: this.worker.revoke.bind(this.worker) }
      this.worker.grant = (partition, epoch) => (world.log?.(`${this.name} holds partition ${partition} (epoch ${epoch})`), grant(partition, epoch))
      this.worker.revoke = (partition) => (world.log?.(`${this.name} lets partition ${partition} go`), revoke(partition))
    }
    this.ownership = new Ownership(
      { queues, epochs: store.epochs, worker: this.worker, inbox: store.inbox, clock, log },
      { owner: this.name, prefix: 'sim', partitions: config.partitions, leaseMs: config.leaseMs, tickMs: config.tickMs, maxWaitMs: 600_000, ignoreLeases: config.ignoreLeases },
    )
    await this.ownership.join(config.partitions)
    this.intake = new CommandIntake(
      { sink: this.intakeCommit, inbox: store.inbox, devices: store.devices, queues, replies: this.replies, queries: this.queries, clock, log, faults: this.faults },
      { partitions: config.partitions, replyTimeoutMs: config.replyTimeoutMs, maxPending: 100_000 },
    )
    await this.ownership.start()
    if (this.alive) this.ready = true
  }

  /** A fault point of the core (src/faults.ts), reached by this process. */
  #at(point: FaultPoint): void {
    // A dead process's remaining synchronous code stops here too.
    if (!this.alive) throw new SimulatedCrash(`${this.name} is dead`)
    if (this.point(`fault:${point}`)) {
      this.crash()
      throw new SimulatedCrash(`crash at ${point}`)
    }
    if (point !== 'after-commit' && point !== 'after-reply' && this.world.fail(this, point)) throw new InjectedFault(`injected failure at ${point}`)
  }

  #log() {
    const note = (level: string) => (obj: object, msg: string) => {
      if (!this.alive) return
      const err = (obj as { err?: unknown }).err
      this.world.log?.(`${this.name} ${level}: ${msg}${err ? ` (${String(err)})` : ''}`)
      if (err === undefined || expected(err)) return
      this.world.anomaly(this, `${level} "${msg}": ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`)
    }
    return { info: () => {}, warn: note('warn'), error: note('error') }
  }

  /** One store call: a point before and after it (an await point of the caller), a transient failure for writes. */
  io<T>(name: string, call: () => T): T {
    if (!this.alive) return hang() as T
    if (this.point(`io:${name}:before`)) {
      this.crash()
      return hang() as T
    }
    if (writes.has(name)) {
      const error = this.world.transient(this, name)
      if (error) return Promise.reject(error) as T
    }
    let result: T
    try {
      result = call()
    } catch (error) {
      return Promise.reject(error) as T
    }
    if (!(result instanceof Promise)) return result
    return result.then(
      (value) => {
        if (!this.alive) return hang()
        if (this.point(`io:${name}:after`)) {
          this.crash()
          return hang()
        }
        return value
      },
      (error: unknown) => {
        if (!this.alive || error instanceof SimulatedCrash) return hang()
        throw error
      },
    ) as T
  }

  /** The decision cycle, with a point before each of its operations and before its commit. */
  #cycle<T>(store: Store, start: () => CycleGenerator<T>): Promise<T> {
    const self = this
    function* instrumented(cycle: CycleGenerator<T>): CycleGenerator<T> {
      let k = 0
      let step = cycle.next()
      while (!step.done) {
        const op = step.value as CycleOp
        k++
        if (self.point(`cycle:${Math.min(k, 9)}:${op.op}`)) {
          self.crash()
          throw new SimulatedCrash(`crash before cycle op ${k} (${op.op})`)
        }
        let answer: unknown
        try {
          answer = yield op as never
        } catch (error) {
          step = cycle.throw(error)
          continue
        }
        step = cycle.next(answer as never)
      }
      if (self.point('cycle:before-commit')) {
        self.crash()
        throw new SimulatedCrash('crash before the cycle commits')
      }
      return step.value
    }
    return this.io('store.cycle', () => store.cycle(() => instrumented(start())))
  }

  /** The store as this process sees it (see `io`). */
  #facade<T extends object>(target: T, path: string): T {
    const nested = new Map<string, unknown>()
    return new Proxy(target, {
      get: (t, prop) => {
        const value = Reflect.get(t, prop, t) as unknown
        if (typeof prop === 'symbol') return value
        if (typeof value === 'function') {
          if (path === 'store' && prop === 'cycle') return (start: () => CycleGenerator<unknown>) => this.#cycle(t as unknown as Store, start)
          return (...args: unknown[]) => this.io(`${path}.${prop}`, () => (value as (...a: unknown[]) => unknown).apply(t, args))
        }
        if (path === 'store' && ioParts.has(prop) && value && typeof value === 'object') {
          if (!nested.has(prop)) nested.set(prop, this.#facade(value, prop))
          return nested.get(prop)
        }
        return value
      },
    })
  }
}

/** Errors the faults explain (logged by the core as it should). */
function expected(error: unknown): boolean {
  return (
    error instanceof SimulatedCrash ||
    error instanceof InjectedFault ||
    error instanceof FencedError ||
    error instanceof RedisUnavailableError ||
    isDatabaseUnavailable(error)
  )
}
