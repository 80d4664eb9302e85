import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { FastifyInstance } from 'fastify'
import { pino, type Logger } from 'pino'
import type { Config } from './config.js'
import { parseFaults } from './faults.js'
import { buildApp } from './http/app.js'
import { CommandIntake } from './inbox/intake.js'
import { PartitionQueues } from './queue/partition-queues.js'
import { partitionOf } from './queue/partitions.js'
import { Replies } from './queue/replies.js'
import { Metrics } from './metrics.js'
import { packageVersion } from './package-info.js'
import { FeedHub } from './projections/feed-hub.js'
import { ProcessStats } from './projections/process-stats.js'
import { openStorage, type Storage } from './storage.js'
import { ActorCache } from './worker/actor.js'
import { Ownership } from './worker/ownership.js'
import type { CommandReport } from './worker/report.js'
import { Worker } from './worker/worker.js'

/**
 * The composition root: opens the storage, connects the partition queues, starts the worker (which
 * also group-commits the intake) and, for `serve`, the HTTP API. `close()` is the graceful shutdown:
 * stop taking requests, let in-flight ones get their answer, finish the cycle in progress, hand the
 * partitions back.
 */
export interface RunningService {
  readonly config: Config
  readonly storage: Storage
  readonly queues: PartitionQueues
  readonly worker: Worker
  readonly ownership: Ownership
  readonly replies: Replies
  readonly metrics: Metrics
  readonly owner: string
  readonly app: FastifyInstance | null
  readonly url: string | null
  readonly log: Logger
  close(): Promise<void>
}

export interface ServiceOptions {
  /** Serve the HTTP API (false: a worker-only process). */
  readonly api: boolean
  readonly logger?: Logger
  /** Listen on the configured port (false: tests use `app.inject`). */
  readonly listen?: boolean
  readonly clock?: () => number
}

export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({ level: config.logLevel, redact: { paths: ['req.headers.authorization', 'token', '*.token'], censor: '[redacted]' } })
}

export async function startService(config: Config, options: ServiceOptions): Promise<RunningService> {
  const log = options.logger ?? createLogger(config)
  const clock = options.clock ?? Date.now
  const owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`
  const faults = parseFaults(config.faults)
  if (config.faults) log.warn({ faults: config.faults }, 'FAULT INJECTION IS ON (WAYBILL_FAULTS): for tests only')
  const storage = openStorage(config, clock)
  const moved = storage.inbox.repartitionPending((streamId) => partitionOf(streamId, config.partitions))
  if (moved > 0) log.warn({ moved, partitions: config.partitions }, 'WAYBILL_PARTITIONS changed: undecided commands moved to their new partitions')
  let queues: PartitionQueues
  try {
    queues = await PartitionQueues.connect({
      redisUrl: config.redisUrl,
      partitions: config.partitions,
      stallIntervalMs: config.stallIntervalMs,
      coalesceWakes: config.coalesceWakes,
      onError: (error, where) => log.warn({ err: error, where }, 'redis error'),
    })
  } catch (error) {
    storage.close()
    throw error
  }
  const replies = new Replies()
  const feed = new FeedHub(storage.store)
  const metrics: Metrics = new Metrics({
    db: storage.db,
    queueDepths: () => queues.depths(),
    heldPartitions: () => worker.held().size,
    actorCacheSize: () => actors.size,
    clock,
  })
  const actors = new ActorCache(storage.store, { size: config.actorCacheSize, onHydrate: (source) => metrics.hydrated(source) })
  const worker: Worker = new Worker(
    {
      db: storage.db, store: storage.store, inbox: storage.inbox, epochs: storage.epochs, projector: storage.projector, parking: storage.parking,
      actors, clock, log, faults,
      onDecided: (reports: readonly CommandReport[], commands) => {
        metrics.decided(reports, commands, clock())
        // Requests waiting here are answered directly; ids of the others go out on the `decided`
        // channel for the process that holds them.
        const remote = reports.filter((r) => !replies.isWaiting(r.commandId)).map((r) => r.commandId)
        replies.settle(reports)
        if (reports.some((r) => r.event)) feed.poke()
        if (remote.length) queues.publishDecided(remote).catch((error) => log.warn({ err: error }, 'decided ids not published'))
      },
      onFenced: (partition) => void ownership.drop(partition),
      onParked: () => metrics.parkings.inc(),
    },
    {
      partitions: config.partitions, batchMax: config.batchMax, snapshotEvery: config.snapshotEvery, lingerMs: config.batchLingerMs,
      maxAttempts: config.maxAttempts, intakeWaitMs: Math.max(2000, config.replyTimeoutMs),
    },
  )
  const ownership: Ownership = new Ownership(
    { queues, epochs: storage.epochs, worker, inbox: storage.inbox, clock, log },
    { owner, partitions: config.partitions, leaseMs: Math.max(1000, config.stallIntervalMs), tickMs: config.sweepIntervalMs, ignoreLeases: faults.ignoreLeases, maxPartitions: config.maxPartitions },
  )

  let app: FastifyInstance | null = null
  let url: string | null = null
  try {
    await ownership.start()
    if (options.api) {
      const intake = new CommandIntake(
        { sink: worker, inbox: storage.inbox, queues, replies, queries: storage.queries, clock, log, onQueued: (command) => metrics.commandsReceived.inc({ type: command.type }) },
        { partitions: config.partitions, replyTimeoutMs: config.replyTimeoutMs, maxPending: config.maxPending },
      )
      app = await buildApp(
        {
          intake, inbox: storage.inbox, queries: storage.queries, tokens: storage.tokens, parking: storage.parking, store: storage.store, clock,
          stats: new ProcessStats(storage.db), feed, metrics,
          kick: () => void worker.kick(),
          checks: {
            sqlite: () => storage.db.prepare('SELECT 1').pluck().get() === 1,
            redis: () => queues.available(),
          },
        },
        {
          rateLimit: config.rateLimit, authFailureLimit: config.authFailureLimit, maxEventLoopDelayMs: config.maxEventLoopDelayMs, requestTimeoutMs: config.requestTimeoutMs,
          stuckAfterMs: config.stuckAfterMs, version: packageVersion, logger: log, faults,
        },
      )
      if (options.listen !== false) url = await app.listen({ port: config.port, host: config.host })
    }
  } catch (error) {
    await ownership.stop()
    await queues.close()
    storage.close()
    throw error
  }
  log.info({ owner, partitions: config.partitions, url, dataDir: config.dataDir }, options.api ? 'waybill serving' : 'waybill worker running')

  let closing: Promise<void> | null = null
  return {
    config, storage, queues, worker, ownership, replies, metrics, owner, app, url, log,
    close() {
      closing ??= (async () => {
        await app?.close()
        await ownership.stop()
        await queues.close()
        storage.close()
      })()
      return closing
    },
  }
}
