import type { Inbox } from '../inbox/inbox.js'
import { queuePrefix } from '../queue/partitions.js'
import type { PartitionQueues } from '../queue/partition-queues.js'
import { call } from '../queue/redis.js'
import type { PartitionEpochs } from '../store/fencing.js'
import type { Worker } from './worker.js'

/**
 * Who consumes which partition. Efficiency comes from a Redis lease per partition (`SET NX PX`, renewed
 * by compare-and-expire) and a fair share (partitions ÷ live workers); correctness comes from the
 * SQLite fencing epoch that a new owner bumps and every write checks. So a worker that loses Redis
 * keeps deciding its partitions (nobody else can claim them meanwhile), and a worker that was paused
 * past its lease finds its epoch superseded and stops.
 *
 * Each tick also sweeps: an owner with pending inbox commands drains them even if their wake-up job
 * was lost (Redis flushed or restarted), so nothing acknowledged waits for a job that will not come.
 */
export interface OwnershipOptions {
  readonly owner: string
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
  readonly worker: Worker
  readonly inbox: Inbox
  readonly clock: () => number
  readonly log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void }
}

const renewScript = `-- KEYS[1] lease key; ARGV[1] owner; ARGV[2] ttl ms
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`
const releaseScript = `-- KEYS[1] lease key; ARGV[1] owner
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`

const leaseKey = (partition: number) => `${queuePrefix}:lease:${partition}`
const workersKey = `${queuePrefix}:workers`

export class Ownership {
  #timer: NodeJS.Timeout | null = null
  #ticking: Promise<void> | null = null
  #stopped = false

  constructor(
    private readonly deps: OwnershipDeps,
    private readonly options: OwnershipOptions,
  ) {}

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
    } else if (queues.available()) {
      try {
        await this.#leases()
      } catch (error) {
        this.deps.log.warn({ err: error }, 'partition leases not renewed this round')
      }
    }
    if (worker.held().size > 0 && this.deps.inbox.countPending() > 0) void worker.kick()
  }

  async #leases(): Promise<void> {
    const { queues, worker, clock } = this.deps
    const { owner, leaseMs, partitions } = this.options
    const now = clock()
    // Workers that decide count themselves in; an API-only process (maxPartitions 0) does not.
    const multi = queues.client.multi()
    if (this.options.maxPartitions !== 0) multi.zadd(workersKey, now, owner)
    // A worker that missed its heartbeats for a lease period is gone: its leases are expiring too.
    multi.zremrangebyscore(workersKey, '-inf', now - leaseMs - this.options.tickMs).zcard(workersKey)
    const replies = (await call<unknown[]>(1000, 'heartbeat', (done) => multi.exec(done))) as number[]
    const live = replies[replies.length - 1]!
    const fair = Math.min(this.options.maxPartitions ?? partitions, Math.ceil(partitions / Math.max(1, live)))

    for (const partition of [...worker.held().keys()]) {
      const renewed = await call<number>(1000, 'renew lease', (done) =>
        queues.client.eval(renewScript, 1, leaseKey(partition), owner, leaseMs, done),
      )
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
        queues.client.set(leaseKey(partition), owner, 'PX', leaseMs, 'NX', done),
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
    const epoch = epochs.claim(partition, this.options.owner, clock())
    worker.grant(partition, epoch)
    await queues.consume(partition, () => worker.kick())
    this.deps.log.info({ partition, epoch }, 'partition acquired')
    void worker.kick()
  }

  /** Gives the partition's lease back, if it is still ours (compare-and-delete). */
  #releaseLease(partition: number): Promise<unknown> {
    return call(1000, 'release lease', (done) => this.deps.queues.client.eval(releaseScript, 1, leaseKey(partition), this.options.owner, done))
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
    await Promise.all(held.map((p) => queues.release(p)))
    await worker.stop()
    for (const partition of held) worker.revoke(partition)
    if (queues.available()) {
      await Promise.all(held.map((p) => this.#releaseLease(p).catch(() => {})))
      await call(1000, 'leave', (done) => queues.client.zrem(workersKey, this.options.owner, done)).catch(() => {})
    }
  }
}
