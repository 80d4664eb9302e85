import BeeQueue from 'bee-queue'
import lua from 'bee-queue/lib/lua/index.js'
import { call, clientReady, createRedisClient, isReady, quit, RedisUnavailableError, withTimeout, type RedisClient } from './redis.js'
import { partitionQueueName } from './partitions.js'

/**
 * The Redis side of the pipeline: one bee-queue per partition. A job only *wakes* the partition's
 * owner (it names the command, but the inbox in SQLite is what gets processed), so a lost, duplicated,
 * retried or reordered job cannot lose, duplicate or reorder a command. Jobs use the command id as
 * their id: saving the same wake-up twice is a no-op while the first is queued.
 *
 * Known bee-queue traps handled here: Lua scripts are reloaded on every reconnect (a restarted Redis
 * answers NOSCRIPT otherwise); no bee-queue retries (they push the job to the back); every call is
 * bounded by a timeout because the v3 client would otherwise wait for a reconnect.
 */
export interface WakeJob {
  readonly commandId: string
  readonly streamId: string
}

export interface PartitionQueuesOptions {
  readonly redisUrl: string
  /** The installation's key namespace (`Installation.keyPrefix()`): every key and channel starts with it. */
  readonly prefix: string
  readonly partitions: number
  readonly stallIntervalMs: number
  /**
   * Coalesce wake-ups: a partition gets a new job only when it is not already "armed" (a Redis flag
   * set with the job and cleared by the consumer just before it drains), and the wake-ups of one
   * event-loop turn are sent together. Off: one job per command.
   */
  readonly coalesceWakes?: boolean
  /** Bound on every Redis call made on a request path. */
  readonly callTimeoutMs?: number
  /** Every Redis error (clients and queues); the service passes a rate-limited logger (`redisErrorReporter`). */
  readonly onError?: (error: Error, where: string) => void
  /** The command connection went away (false) or came back (true). */
  readonly onConnection?: (up: boolean) => void
}

/** An armed flag outlives a lost job by at most this long (the owner's sweep covers the gap). */
const armedTtlMs = 2000

interface PendingWake {
  readonly job: WakeJob
  readonly waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }>
}

export class PartitionQueues {
  readonly client: RedisClient
  readonly #subscriber: RedisClient
  readonly #producers: BeeQueue<WakeJob>[]
  readonly #consumers = new Map<number, BeeQueue<WakeJob>>()
  readonly #decidedListeners = new Set<(commandIds: readonly string[]) => void>()
  readonly #timeout: number
  #closed = false
  #wakes: Map<number, PendingWake> | null = null
  readonly #decidedChannel: string
  readonly #armedKey: (partition: number) => string

  private constructor(private readonly options: PartitionQueuesOptions) {
    this.#timeout = options.callTimeoutMs ?? 1000
    this.#decidedChannel = `${options.prefix}:decided`
    this.#armedKey = (partition) => `${options.prefix}:armed:${partition}`
    this.client = createRedisClient(options.redisUrl, 'commands', options.onError)
    this.#subscriber = createRedisClient(options.redisUrl, 'subscriber', options.onError)
    // Reconnected to a Redis that may have restarted: its script cache is empty.
    let first = true
    let up = false
    this.client.on('ready', () => {
      if (!up) options.onConnection?.((up = true))
      if (first) return void (first = false)
      lua.buildCache(this.client).catch((error: Error) => options.onError?.(error, 'reload scripts'))
    })
    this.client.on('end', () => {
      if (up && !this.#closed) options.onConnection?.((up = false))
    })
    this.#subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.#decidedChannel) return
      const ids = message.split(',')
      for (const listener of this.#decidedListeners) listener(ids)
    })
    this.#subscriber.on('ready', () => this.#subscriber.subscribe(this.#decidedChannel))
    this.#producers = Array.from({ length: options.partitions }, (_, p) => this.#queue(p, false))
  }

  /** Connects, or rejects after `timeoutMs` if Redis does not answer. */
  static async connect(options: PartitionQueuesOptions, timeoutMs = 5000): Promise<PartitionQueues> {
    const queues = new PartitionQueues(options)
    try {
      await clientReady(queues.client, timeoutMs)
      await withTimeout(Promise.all(queues.#producers.map((q) => q.ready())), timeoutMs, 'bee-queue ready')
    } catch (error) {
      await queues.close()
      throw error
    }
    return queues
  }

  #queue(partition: number, isWorker: boolean): BeeQueue<WakeJob> {
    const settings: BeeQueue.QueueSettings & { initialRedisFailureRetryDelay: number } = {
      prefix: this.options.prefix,
      redis: this.client as never,
      isWorker,
      getEvents: false,
      sendEvents: false,
      storeJobs: false,
      removeOnSuccess: true,
      removeOnFailure: true,
      activateDelayedJobs: false,
      stallInterval: this.options.stallIntervalMs,
      // bee-queue doubles this after each failed blocking pop; start small so a Redis restart is noticed fast.
      initialRedisFailureRetryDelay: 100,
    }
    const queue = new BeeQueue<WakeJob>(partitionQueueName(partition), settings)
    queue.on('error', (error) => this.options.onError?.(error, `partition ${partition}`))
    return queue
  }

  /** True while Redis answers: command routes refuse work (503) otherwise, before writing anything. */
  available(): boolean {
    return !this.#closed && isReady(this.client)
  }

  /** Queues a wake-up job for the partition. Throws RedisUnavailableError fast when Redis is away. */
  async wake(partition: number, job: WakeJob): Promise<void> {
    if (!this.available()) throw new RedisUnavailableError('redis is not connected')
    if (!this.options.coalesceWakes) {
      await withTimeout(this.#producers[partition]!.createJob(job).setId(job.commandId).save(), this.#timeout, 'enqueue')
      return
    }
    return new Promise((resolve, reject) => {
      if (!this.#wakes) {
        this.#wakes = new Map()
        setImmediate(() => void this.#flushWakes())
      }
      const pending = this.#wakes.get(partition) ?? { job, waiters: [] }
      pending.waiters.push({ resolve, reject })
      this.#wakes.set(partition, pending)
    })
  }

  /** One round trip arms every partition woken this turn; newly armed ones get their job. */
  async #flushWakes(): Promise<void> {
    const wakes = this.#wakes!
    this.#wakes = null
    const partitions = [...wakes.keys()]
    try {
      const multi = this.client.multi()
      for (const partition of partitions) multi.set(this.#armedKey(partition), '1', 'PX', armedTtlMs, 'NX')
      const armed = (await call<unknown[]>(this.#timeout, 'arm partitions', (done) => multi.exec(done))) as Array<string | null>
      await Promise.all(
        partitions
          .filter((_, i) => armed[i] === 'OK')
          .map((partition) => {
            const { job } = wakes.get(partition)!
            return withTimeout(this.#producers[partition]!.createJob(job).setId(job.commandId).save(), this.#timeout, 'enqueue')
          }),
      )
      for (const { waiters } of wakes.values()) for (const w of waiters) w.resolve()
    } catch (error) {
      for (const { waiters } of wakes.values()) for (const w of waiters) w.reject(error)
    }
  }

  /** Starts the single consumer of a partition in this process: `process(1)`, so jobs run one at a time. */
  async consume(partition: number, handler: (job: WakeJob) => Promise<unknown>): Promise<void> {
    if (this.#consumers.has(partition)) return
    const queue = this.#queue(partition, true)
    this.#consumers.set(partition, queue)
    queue.process(1, async (job) => {
      // Disarm before draining: a command committed from now on arms (and wakes) the partition again.
      if (this.options.coalesceWakes) await call(this.#timeout, 'disarm', (done) => this.client.del(this.#armedKey(partition), done)).catch(() => {})
      return handler(job.data)
    })
  }

  /** Stops consuming a partition (a job in progress finishes first). */
  async release(partition: number): Promise<void> {
    const queue = this.#consumers.get(partition)
    if (!queue) return
    this.#consumers.delete(partition)
    await queue.close(2000).catch((error: Error) => this.options.onError?.(error, `close partition ${partition}`))
  }


  /** Tells every process which commands were decided (their API may hold the waiting requests). */
  async publishDecided(commandIds: readonly string[]): Promise<void> {
    if (!this.available() || commandIds.length === 0) return
    await call(this.#timeout, 'publish', (done) => this.client.publish(this.#decidedChannel, commandIds.join(','), done))
  }

  onDecided(listener: (commandIds: readonly string[]) => void): void {
    this.#decidedListeners.add(listener)
  }

  /** Jobs waiting per partition (undefined while Redis is away). */
  async depths(): Promise<number[] | undefined> {
    if (!this.available()) return undefined
    const multi = this.client.multi()
    for (let p = 0; p < this.options.partitions; p++) multi.llen(`${this.options.prefix}:${partitionQueueName(p)}:waiting`)
    return call(this.#timeout, 'queue depth', (done) => multi.exec(done)) as Promise<number[]>
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.all([...this.#consumers.keys()].map((p) => this.release(p)))
    await Promise.all(this.#producers.map((q) => q.close(1000).catch(() => {})))
    await Promise.all([quit(this.client), quit(this.#subscriber)])
  }
}
