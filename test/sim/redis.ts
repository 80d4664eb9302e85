import { heartbeatScript, releaseScript, renewScript } from '../../src/queue/leases.js'
import type { WakeJob } from '../../src/queue/partition-queues.js'
import { RedisUnavailableError } from '../../src/queue/redis.js'
import type { Rng } from './prng.js'
import type { Owner, Scheduler } from './scheduler.js'

/**
 * A simulated Redis: the keys the pipeline uses (leases with expiry, the workers' and processes'
 * heartbeat sets), one wake-up queue per partition with bee-queue's semantics (a job id queued once,
 * `process(1)` consumers, a job whose consumer died redelivered after the stall interval) and the
 * `decided` channel. It runs in simulated time and misbehaves on the seed's orders: wake-ups lost,
 * duplicated, reordered and delayed; replies lost (the caller's timeout fires) or slow; everything
 * flushed; down for everyone, or unreachable from one process only. Leases expire by Redis's own
 * clock (the simulated true time), not by the processes' clocks.
 */
export interface RedisFaultRates {
  readonly wakeLost: number
  readonly wakeDuplicated: number
  readonly wakeDelayed: number
  readonly wakeReordered: number
  readonly replyLost: number
  readonly slowReply: number
  readonly decidedLost: number
}

/** What a process is to Redis: its name (for partitions) and its crash hooks. */
export interface RedisPeer {
  readonly name: string
  readonly owner: Owner
  readonly alive: boolean
  /** A point of this process's code was reached: true if it crashes there. */
  point(label: string): boolean
  crash(): void
}

interface Consumer {
  readonly peer: RedisPeer
  readonly handler: (job: WakeJob) => Promise<unknown>
  busy: (WakeJob & { id: string }) | null
  running: Promise<void> | null
}

type Callback<T> = (error: Error | null, value: T) => void

export class SimRedis {
  readonly #strings = new Map<string, { value: string; expiresAt: number | null }>()
  readonly #zsets = new Map<string, Map<string, number>>()
  readonly #waiting = new Map<number, Array<WakeJob & { id: string }>>()
  readonly #consumers = new Map<number, Consumer[]>()
  readonly #subscribers = new Set<SimQueues>()
  readonly server: Owner
  up = true
  /** Processes (by name) that cannot reach Redis (a network partition). */
  readonly cutOff = new Set<string>()

  constructor(
    readonly sched: Scheduler,
    private readonly rng: Rng,
    readonly rates: RedisFaultRates,
    private readonly count: (fault: string) => void,
    readonly stallIntervalMs: number,
  ) {
    this.server = sched.owner('redis')
  }

  reachable(peer: RedisPeer): boolean {
    return this.up && !this.cutOff.has(peer.name) && peer.alive
  }

  /** A reply lost on the way (the command ran; the caller's timeout will fire). */
  lose(what: string): boolean {
    if (!this.rng.chance(this.rates.replyLost)) return false
    this.count(what)
    return true
  }

  latency(): number {
    return this.rng.chance(this.rates.slowReply) ? this.rng.range(50, 400) : this.rng.int(3)
  }

  // Strings with expiry, by Redis's own (true) time.
  #get(key: string): string | null {
    const entry = this.#strings.get(key)
    if (!entry) return null
    if (entry.expiresAt !== null && entry.expiresAt <= this.sched.now) {
      this.#strings.delete(key)
      return null
    }
    return entry.value
  }

  #set(key: string, value: string, px: number | null): void {
    this.#strings.set(key, { value, expiresAt: px === null ? null : this.sched.now + px })
  }

  #zset(key: string): Map<string, number> {
    let set = this.#zsets.get(key)
    if (!set) this.#zsets.set(key, (set = new Map()))
    return set
  }

  /** Runs one command (the real ones the code sends) against the data. */
  exec(name: string, args: readonly unknown[]): unknown {
    switch (name) {
      case 'set': {
        const [key, value, , px, nx] = args as [string, string, string, number, string | undefined]
        if (nx === 'NX' && this.#get(key) !== null) return null
        this.#set(key, value, Number(px))
        return 'OK'
      }
      case 'get':
        return this.#get(args[0] as string)
      case 'del':
        return this.#strings.delete(args[0] as string) ? 1 : 0
      case 'mget':
        return (args[0] as string[]).map((key) => this.#get(key))
      case 'eval': {
        if (args[0] === heartbeatScript) {
          // By Redis's own (true) time, as TIME gives it.
          const [, , processes, workers, processMember, workerMember, expiry] = args as [string, number, string, string, string, string, number]
          const oldest = this.sched.now - Number(expiry)
          if (processMember !== '') this.exec('zadd', [processes, this.sched.now, processMember])
          if (workerMember !== '') this.exec('zadd', [workers, this.sched.now, workerMember])
          this.exec('zremrangebyscore', [processes, '-inf', oldest])
          this.exec('zremrangebyscore', [workers, '-inf', oldest])
          return [this.exec('zcard', [workers]), this.exec('zrange', [processes, 0, -1])]
        }
        const [script, , key, owner, ttl] = args as [string, number, string, string, number | undefined]
        const holder = this.#get(key)
        if (script === renewScript) {
          if (holder === owner) {
            this.#set(key, owner, Number(ttl))
            return 1
          }
          if (holder === null) {
            this.#set(key, owner, Number(ttl))
            return 2
          }
          return 0
        }
        if (script === releaseScript) {
          if (holder === owner) {
            this.#strings.delete(key)
            return 1
          }
          return 0
        }
        throw new Error(`simulated redis: unknown script ${script.slice(0, 40)}`)
      }
      case 'zadd': {
        const [key, score, member] = args as [string, number, string]
        const set = this.#zset(key)
        const added = set.has(member) ? 0 : 1
        set.set(member, Number(score))
        return added
      }
      case 'zrem': {
        const [key, member] = args as [string, string]
        return this.#zset(key).delete(member) ? 1 : 0
      }
      case 'zremrangebyscore': {
        const [key, , max] = args as [string, string, number]
        const set = this.#zset(key)
        let removed = 0
        for (const [member, score] of [...set]) {
          if (score <= Number(max)) {
            set.delete(member)
            removed++
          }
        }
        return removed
      }
      case 'zrange': {
        const set = this.#zset(args[0] as string)
        return [...set].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([member]) => member)
      }
      case 'zcard':
        return this.#zset(args[0] as string).size
      default:
        throw new Error(`simulated redis: unknown command ${name}`)
    }
  }

  /** Everything gone (FLUSHALL, or a restart without persistence): leases, heartbeats, queued wake-ups. */
  flush(): void {
    this.#strings.clear()
    this.#zsets.clear()
    this.#waiting.clear()
  }

  /** Down for everyone (or back up: every queue is looked at again). */
  setUp(up: boolean): void {
    this.up = up
    if (up) for (const partition of this.#consumers.keys()) this.#dispatchSoon(partition)
  }

  setCutOff(name: string, cut: boolean): void {
    if (cut) this.cutOff.add(name)
    else {
      this.cutOff.delete(name)
      for (const partition of this.#consumers.keys()) this.#dispatchSoon(partition)
    }
  }

  // Wake-up queues (bee-queue's semantics, as the pipeline uses them).
  push(partition: number, job: WakeJob): void {
    if (this.rng.chance(this.rates.wakeLost)) {
      this.count('wake-lost')
      return
    }
    const enqueue = (id: string) => {
      const waiting = this.#waiting.get(partition) ?? []
      this.#waiting.set(partition, waiting)
      // A job id is queued once while it waits (createJob().setId(commandId)).
      if (waiting.some((j) => j.id === id)) return
      const entry = { ...job, id }
      if (waiting.length > 0 && this.rng.chance(this.rates.wakeReordered)) {
        this.count('wake-reordered')
        waiting.splice(this.rng.int(waiting.length), 0, entry)
      } else waiting.push(entry)
      this.#dispatchSoon(partition)
    }
    if (this.rng.chance(this.rates.wakeDelayed)) {
      this.count('wake-delayed')
      this.sched.timeout(() => enqueue(job.commandId), this.rng.range(100, 2000), [], this.server)
    } else enqueue(job.commandId)
    if (this.rng.chance(this.rates.wakeDuplicated)) {
      this.count('wake-duplicated')
      this.sched.timeout(() => enqueue(`${job.commandId}#dup`), this.rng.range(0, 500), [], this.server)
    }
  }

  addConsumer(partition: number, peer: RedisPeer, handler: (job: WakeJob) => Promise<unknown>): void {
    const list = this.#consumers.get(partition) ?? []
    this.#consumers.set(partition, list)
    if (list.some((c) => c.peer === peer)) return
    list.push({ peer, handler, busy: null, running: null })
    this.#dispatchSoon(partition)
  }

  /** Stops a process's consumer of `partition`; resolves when its job in progress (if any) is done. */
  removeConsumer(partition: number, peer: RedisPeer): Promise<void> {
    const list = this.#consumers.get(partition) ?? []
    const consumer = list.find((c) => c.peer === peer)
    if (!consumer) return Promise.resolve()
    list.splice(list.indexOf(consumer), 1)
    return consumer.running ?? Promise.resolve()
  }

  /** A process died: its jobs in progress stall and are redelivered after the stall interval. */
  peerDied(peer: RedisPeer): void {
    for (const [partition, list] of this.#consumers) {
      for (const consumer of list.filter((c) => c.peer === peer)) {
        list.splice(list.indexOf(consumer), 1)
        const job = consumer.busy
        if (job) {
          this.count('stall-redelivery')
          this.sched.timeout(
            () => {
              const waiting = this.#waiting.get(partition) ?? []
              this.#waiting.set(partition, waiting)
              waiting.unshift(job)
              this.#dispatchSoon(partition)
            },
            this.stallIntervalMs,
            [],
            this.server,
          )
        }
      }
    }
    for (const s of this.#subscribers) if (s.peer === peer) this.#subscribers.delete(s)
  }

  #dispatchSoon(partition: number): void {
    this.sched.timeout(() => this.#dispatch(partition), this.rng.int(2), [], this.server)
  }

  #dispatch(partition: number): void {
    if (!this.up) return
    const waiting = this.#waiting.get(partition)
    if (!waiting || waiting.length === 0) return
    // A paused process's blocking pop still takes a job (it then sits there until it resumes).
    const idle = (this.#consumers.get(partition) ?? []).filter((c) => c.busy === null && c.peer.alive && !this.cutOff.has(c.peer.name))
    if (idle.length === 0) return
    const consumer = this.rng.pick(idle)
    const job = waiting.shift()!
    consumer.busy = job
    let done!: () => void
    consumer.running = new Promise((resolve) => (done = resolve))
    this.sched.timeout(
      () => {
        const finish = () => {
          consumer.busy = null
          consumer.running = null
          done()
          this.#dispatchSoon(partition)
        }
        consumer.handler({ commandId: job.commandId, streamId: job.streamId }).then(finish, finish)
      },
      this.latency(),
      [],
      consumer.peer.owner,
    )
    if (waiting.length > 0) this.#dispatchSoon(partition)
  }

  subscribe(queues: SimQueues): void {
    this.#subscribers.add(queues)
  }

  publish(ids: readonly string[]): void {
    for (const s of this.#subscribers) {
      if (!s.peer.alive || this.cutOff.has(s.peer.name)) continue
      if (this.rng.chance(this.rates.decidedLost)) {
        this.count('decided-lost')
        continue
      }
      this.sched.timeout(() => s.deliver(ids), this.latency(), [], s.peer.owner)
    }
  }
}

/** A process's connection: the callback-style client methods the pipeline calls (`call()` wraps them). */
export class SimRedisClient {
  constructor(
    private readonly redis: SimRedis,
    private readonly peer: RedisPeer,
  ) {}

  /**
   * Sends one command: it runs when it arrives, its reply comes back after the network's latency —
   * or never (a lost reply: the caller's timeout fires; the command may well have run).
   */
  send<T>(name: string, run: () => T, cb: Callback<T>): void {
    const { redis, peer } = this
    if (!peer.alive) return
    if (peer.point(`redis:${name}:before`)) return peer.crash()
    const owner = redis.sched.current()
    if (!redis.reachable(peer)) {
      redis.sched.timeout(() => cb(Object.assign(new Error('connection to redis lost'), { code: 'ECONNREFUSED' }), undefined as T), 1 + redis.latency(), [], owner)
      return
    }
    const value = run()
    if (redis.lose('reply-lost')) return
    redis.sched.timeout(
      () => {
        if (peer.point(`redis:${name}:after`)) return peer.crash()
        cb(null, value)
      },
      redis.latency(),
      [],
      owner,
    )
  }

  #command(name: string, args: unknown[], label = name): void {
    const cb = args.pop() as Callback<unknown>
    this.send(label, () => this.redis.exec(name, args), cb)
  }

  set(...args: unknown[]): void {
    this.#command('set', args)
  }
  get(...args: unknown[]): void {
    this.#command('get', args)
  }
  del(...args: unknown[]): void {
    this.#command('del', args)
  }
  mget(...args: unknown[]): void {
    this.#command('mget', args)
  }
  eval(...args: unknown[]): void {
    this.#command('eval', args, args[0] === renewScript ? 'renew-lease' : args[0] === releaseScript ? 'release-lease' : args[0] === heartbeatScript ? 'heartbeat' : 'eval')
  }
  zadd(...args: unknown[]): void {
    this.#command('zadd', args)
  }
  zrem(...args: unknown[]): void {
    this.#command('zrem', args)
  }

  /** MULTI … EXEC: the commands run together when EXEC arrives. */
  multi() {
    const ops: Array<[string, unknown[]]> = []
    const multi = {
      zadd: (...a: unknown[]) => (ops.push(['zadd', a]), multi),
      zrem: (...a: unknown[]) => (ops.push(['zrem', a]), multi),
      zremrangebyscore: (...a: unknown[]) => (ops.push(['zremrangebyscore', a]), multi),
      zrange: (...a: unknown[]) => (ops.push(['zrange', a]), multi),
      zcard: (...a: unknown[]) => (ops.push(['zcard', a]), multi),
      set: (...a: unknown[]) => (ops.push(['set', a]), multi),
      llen: (...a: unknown[]) => (ops.push(['zcard', a]), multi),
      exec: (cb: Callback<unknown[]>) => this.send('multi', () => ops.map(([name, a]) => this.redis.exec(name, a)), cb),
    }
    return multi
  }
}

/** The PartitionQueues surface the intake, the drain loop's wiring and Ownership use. */
export class SimQueues {
  readonly client: SimRedisClient
  readonly #listeners = new Set<(ids: readonly string[]) => void>()
  readonly #consuming = new Set<number>()
  #closed = false

  constructor(
    private readonly redis: SimRedis,
    readonly peer: RedisPeer,
  ) {
    this.client = new SimRedisClient(redis, peer)
    redis.subscribe(this)
  }

  available(): boolean {
    return !this.#closed && this.redis.reachable(this.peer)
  }

  wake(partition: number, job: WakeJob): Promise<void> {
    if (!this.available()) return Promise.reject(new RedisUnavailableError('redis is not connected'))
    return new Promise((resolve, reject) =>
      this.client.send('wake', () => this.redis.push(partition, job), (error) => (error ? reject(new RedisUnavailableError(`enqueue: ${error.message}`)) : resolve())),
    )
  }

  async consume(partition: number, handler: (job: WakeJob) => Promise<unknown>): Promise<void> {
    if (this.#consuming.has(partition)) return
    this.#consuming.add(partition)
    this.redis.addConsumer(partition, this.peer, handler)
  }

  async release(partition: number): Promise<void> {
    if (!this.#consuming.delete(partition)) return
    await this.redis.removeConsumer(partition, this.peer)
  }

  async publishDecided(commandIds: readonly string[]): Promise<void> {
    if (!this.available() || commandIds.length === 0) return
    await new Promise<void>((resolve, reject) => this.client.send('publish', () => this.redis.publish(commandIds), (error) => (error ? reject(new RedisUnavailableError(error.message)) : resolve())))
  }

  onDecided(listener: (commandIds: readonly string[]) => void): void {
    this.#listeners.add(listener)
  }

  deliver(ids: readonly string[]): void {
    if (!this.peer.alive || this.#closed) return
    for (const listener of this.#listeners) listener(ids)
  }

  async depths(): Promise<number[] | undefined> {
    return undefined
  }

  async close(): Promise<void> {
    this.#closed = true
    await Promise.all([...this.#consuming].map((p) => this.release(p)))
  }
}
