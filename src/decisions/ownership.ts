import type { PartitionQueues } from '../queue/partition-queues.js'
import { heartbeatScript, ownershipKeys, releaseScript, renewScript } from '../queue/leases.js'
import { call } from '../queue/redis.js'
import type { PartitionEpochs } from '../store/epochs.js'
import type { Inbox } from '../store/inbox.js'
import type { DrainLoop } from './drain.js'

/**
 * Who consumes which partition. Efficiency comes from a Redis lease per partition (`SET NX PX`, renewed
 * by compare-and-expire) and a fair share (partitions ÷ live workers); correctness comes from the
 * fencing epoch in the database that a new owner bumps and every write checks. So a worker that loses Redis
 * keeps deciding its partitions, and a worker that was paused past its lease finds its epoch
 * superseded and stops.
 *
 * While Redis is away (down, or unreachable from here only): nobody can *claim* a partition (a claim
 * needs the Redis lease first), but a lease may expire in a Redis that others still reach and be
 * claimed there. So a holder keeps a partition exactly as long as its epoch is still the current one
 * in the database: every tick compares them (one indexed read per partition held), and every write
 * transaction checks it anyway. When Redis comes back empty, a holder whose epoch is still current
 * re-establishes its lease (SET if absent) instead of dropping and re-claiming it; if another process
 * set the lease first, the holder drops the partition, and the fence covers the moment in between.
 *
 * Each tick also sweeps: an owner with pending inbox commands drains them even if their wake-up job
 * was lost (Redis flushed or restarted), so nothing acknowledged waits for a job that will not come.
 */
export interface OwnershipOptions {
  readonly owner: string
  /** The installation's Redis key namespace. */
  readonly prefix: string
  /** A command undecided this long is reported (warn log, `/ready`, `doctor`). */
  readonly maxWaitMs?: number
  readonly partitions: number
  readonly leaseMs: number
  readonly tickMs: number
  /** Most partitions to hold; default: a fair share of the live workers. */
  readonly maxPartitions?: number
  /** Negative control for tests (WAYBILL_FAULTS=ignore-leases): claim every partition, leases or not. */
  readonly ignoreLeases?: boolean
}

export interface OwnershipDeps {
  readonly queues: PartitionQueues
  readonly epochs: PartitionEpochs
  readonly worker: DrainLoop
  readonly inbox: Inbox
  readonly clock: () => number
  readonly log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void }
}

/** What an owner last saw of the whole installation (for `/ready` and the warn log). */
export interface OwnershipHealth {
  /** Partitions nobody holds a lease on (as of the last round; empty until Redis answered once). */
  readonly unowned: readonly number[]
  /** Age of the oldest undecided command (0: none waits). */
  readonly oldestWaitMs: number
  readonly maxWaitMs: number
}

/** Refused to start: this process's partition count differs from the live installation's. */
export class PartitionCountError extends Error {
  override readonly name = 'PartitionCountError'
}

export class Ownership {
  #timer: NodeJS.Timeout | null = null
  #ticking: Promise<void> | null = null
  #stopped = false
  readonly #keys: ReturnType<typeof ownershipKeys>
  #unowned: number[] = []
  /** Since when partitions have been unowned / commands waiting too long (for the warn log). */
  #unownedSince: number | null = null
  #lastWarnAt = 0

  constructor(
    private readonly deps: OwnershipDeps,
    private readonly options: OwnershipOptions,
  ) {
    this.#keys = ownershipKeys(options.prefix)
  }

  /**
   * Joins the installation: refused (PartitionCountError) when live processes of it run with another
   * partition count than this one. Returns the live count seen (0: this process is the first).
   */
  async join(recorded: number | null): Promise<number> {
    const { members } = await this.#heartbeat('join', '', '')
    const others = members.filter((member) => !member.startsWith(`${this.options.owner}|`))
    const counts = new Set(others.map((member) => Number(member.slice(member.lastIndexOf('|') + 1))))
    const expected = others.length > 0 ? [...counts][0]! : recorded
    if (others.length > 0 && (counts.size !== 1 || !counts.has(this.options.partitions))) {
      throw new PartitionCountError(
        `WAYBILL_PARTITIONS=${this.options.partitions}, but ${others.length} live process(es) of this installation run with ${[...counts].join('/')} partitions: use WAYBILL_PARTITIONS=${expected}, or stop every process of it to change the count`,
      )
    }
    await this.#heartbeatProcess()
    return others.length
  }

  #heartbeatProcess(): Promise<unknown> {
    return this.#heartbeat('process heartbeat', `${this.options.owner}|${this.options.partitions}`, '')
  }

  /** See `heartbeatScript`: a heartbeat counts for a lease period and a tick, by Redis's clock. */
  async #heartbeat(what: string, processMember: string, workerMember: string): Promise<{ liveWorkers: number; members: string[] }> {
    const { processes, workers } = this.#keys
    const expiry = this.options.leaseMs + this.options.tickMs
    const [liveWorkers, members] = await call<[number, string[]]>(1000, what, (done) =>
      this.deps.queues.client.eval(heartbeatScript, 2, processes, workers, processMember, workerMember, expiry, done),
    )
    return { liveWorkers, members }
  }

  /** What the last round saw: unowned partitions and how long the oldest command has waited. */
  async health(): Promise<OwnershipHealth> {
    const oldest = await this.deps.inbox.oldestWaitingAt().catch(() => undefined)
    return { unowned: this.#unowned, oldestWaitMs: oldest === undefined ? 0 : Math.max(0, this.deps.clock() - oldest), maxWaitMs: this.options.maxWaitMs ?? 30_000 }
  }

  /** Reads every lease of the installation; warns (at most every 30 s) while some stay unowned or commands wait too long. */
  async #watch(): Promise<void> {
    const { queues, clock } = this.deps
    const { partitions, leaseMs, tickMs } = this.options
    const keys = Array.from({ length: partitions }, (_, p) => this.#keys.lease(p))
    const holders = await call<Array<string | null>>(1000, 'read leases', (done) => queues.client.mget(keys, done))
    this.#unowned = holders.flatMap((holder, p) => (holder ? [] : [p]))
    const now = clock()
    const health = await this.health()
    const troubled = this.#unowned.length > 0 || health.oldestWaitMs > health.maxWaitMs
    if (!troubled) {
      this.#unownedSince = null
      return
    }
    this.#unownedSince ??= now
    // A handover leaves a partition unowned for up to a lease period: not worth a warning.
    if (now - this.#unownedSince < leaseMs + 2 * tickMs || now - this.#lastWarnAt < 30_000) return
    this.#lastWarnAt = now
    this.deps.log.warn(
      { unowned: this.#unowned, oldestWaitMs: health.oldestWaitMs },
      this.#unowned.length > 0
        ? `partitions ${this.#unowned.join(',')} have no owner: their commands are not decided (no worker running, or all at WAYBILL_MAX_PARTITIONS)`
        : `the oldest undecided command has waited ${Math.round(health.oldestWaitMs / 1000)} s`,
    )
  }

  async start(): Promise<void> {
    await this.tick()
    const loop = () => {
      this.#timer = setTimeout(() => {
        this.#ticking = this.tick().finally(() => {
          this.#ticking = null
          if (!this.#stopped) loop()
        })
      }, this.options.tickMs)
      this.#timer.unref()
    }
    loop()
  }

  /** One round of heartbeat, lease renewal, rebalancing, acquisition and sweep. */
  async tick(): Promise<void> {
    if (this.#stopped) return
    const { queues, worker } = this.deps
    if (this.options.ignoreLeases) {
      for (let partition = 0; partition < this.options.partitions; partition++) {
        if (!worker.held().has(partition)) await this.#acquire(partition).catch((error) => this.deps.log.warn({ err: error, partition }, 'partition not claimed'))
      }
    } else {
      await this.#checkEpochs()
      if (queues.available()) {
        try {
          await this.#leases()
          await this.#watch()
        } catch (error) {
          this.deps.log.warn({ error: (error as Error).message }, 'partition leases not renewed this round')
        }
      }
    }
    // The sweep: only for commands this process can decide (held partitions, not parked), so that a
    // parked backlog or another owner's commands do not cost an empty write transaction every tick.
    if (worker.held().size > 0 && (await this.deps.inbox.countWaiting([...worker.held().keys()]).catch(() => 0)) > 0) void worker.kick()
  }

  /** Drops every partition whose epoch was superseded in the database (claimed by another process). */
  async #checkEpochs(): Promise<void> {
    const { epochs, worker } = this.deps
    for (const [partition, epoch] of [...worker.held()]) {
      let current: number
      try {
        current = await epochs.current(partition)
      } catch (error) {
        this.deps.log.warn({ err: error, partition }, 'partition epoch not checked this round')
        continue
      }
      if (current === epoch) continue
      this.deps.log.warn({ partition, epoch, current }, 'partition claimed by another process; releasing it')
      await this.drop(partition)
    }
  }

  async #leases(): Promise<void> {
    const { queues, worker } = this.deps
    const { owner, leaseMs, partitions } = this.options
    // Workers that decide count themselves in; an API-only process (maxPartitions 0) does not. A
    // worker that missed its heartbeats for a lease period is gone: its leases are expiring too.
    const { liveWorkers: live } = await this.#heartbeat('heartbeat', `${owner}|${partitions}`, this.options.maxPartitions !== 0 ? owner : '')
    const fair = Math.min(this.options.maxPartitions ?? partitions, Math.ceil(partitions / Math.max(1, live)))

    for (const partition of [...worker.held().keys()]) {
      const renewed = await call<number>(1000, 'renew lease', (done) =>
        queues.client.eval(renewScript, 1, this.#keys.lease(partition), owner, leaseMs, done),
      )
      if (renewed === 2) {
        // The lease was gone (Redis restarted empty) and is set again: ours only if no one claimed the
        // epoch meanwhile (the claim comes after its lease, so a lease set here keeps others out).
        if ((await this.deps.epochs.current(partition)) === worker.held().get(partition)) {
          this.deps.log.info({ partition }, 'lease re-established after a Redis restart')
          continue
        }
        await this.#releaseLease(partition).catch(() => {})
      }
      if (renewed !== 1) {
        this.deps.log.warn({ partition }, 'lease lost; releasing partition')
        await this.drop(partition)
      }
    }
    const held = [...worker.held().keys()].sort((a, b) => b - a)
    while (held.length > fair) {
      const partition = held.shift()!
      this.deps.log.info({ partition, fair }, 'handing partition over to balance workers')
      await this.drop(partition)
      await this.#releaseLease(partition)
    }
    for (let partition = 0; partition < partitions && worker.held().size < fair; partition++) {
      if (worker.held().has(partition)) continue
      const taken = await call<'OK' | undefined>(1000, 'acquire lease', (done) =>
        queues.client.set(this.#keys.lease(partition), owner, 'PX', leaseMs, 'NX', done),
      )
      if (taken !== 'OK') continue
      try {
        await this.#acquire(partition)
      } catch (error) {
        // The epoch could not be claimed (database locked): give the lease back at once, so that the
        // partition is not left without an owner for a whole lease period.
        this.deps.log.warn({ err: error, partition }, 'partition not claimed; lease released')
        await this.#releaseLease(partition).catch(() => {})
      }
    }
  }

  async #acquire(partition: number): Promise<void> {
    const { epochs, worker, queues, clock } = this.deps
    const epoch = await epochs.claim(partition, this.options.owner, clock())
    worker.grant(partition, epoch)
    // The job waits for the drain it asked for, or until the partition is revoked (so a release on
    // rebalance is not held up by a backlog).
    await queues.consume(partition, () => worker.kick(partition))
    this.deps.log.info({ partition, epoch }, 'partition acquired')
    void worker.kick()
  }

  /** Gives the partition's lease back, if it is still ours (compare-and-delete). */
  #releaseLease(partition: number): Promise<unknown> {
    return call(1000, 'release lease', (done) => this.deps.queues.client.eval(releaseScript, 1, this.#keys.lease(partition), this.options.owner, done))
  }

  /** Stops consuming a partition here (after a lost lease or a fenced write). */
  async drop(partition: number): Promise<void> {
    this.deps.worker.revoke(partition)
    await this.deps.queues.release(partition)
  }

  /** Hands every partition back: stops consuming, lets the worker finish, releases the leases. */
  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer) clearTimeout(this.#timer)
    await this.#ticking
    const { queues, worker } = this.deps
    const held = [...worker.held().keys()]
    // The worker first (it finishes its cycle and lets every waiting job go), then the queues: their
    // close waits for the job in progress.
    await worker.stop()
    await Promise.all(held.map((p) => queues.release(p)))
    for (const partition of held) worker.revoke(partition)
    if (queues.available()) {
      await Promise.all(held.map((p) => this.#releaseLease(p).catch(() => {})))
      await call(1000, 'leave', (done) => queues.client.zrem(this.#keys.workers, this.options.owner, done)).catch(() => {})
      await call(1000, 'leave', (done) => queues.client.zrem(this.#keys.processes, `${this.options.owner}|${this.options.partitions}`, done)).catch(() => {})
    }
  }
}
