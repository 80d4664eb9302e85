import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { FastifyInstance } from 'fastify'
import { pino, type Logger } from 'pino'
import { readFileSync } from 'node:fs'
import { ConfigError, type Config } from './config.js'
import { parseFaults } from './faults.js'
import { GroupCommit } from './commands/group-commit.js'
import { CommandIntake } from './commands/intake.js'
import { Replies } from './commands/replies.js'
import { ActorCache } from './decisions/actor-cache.js'
import { DrainLoop } from './decisions/drain.js'
import { Ownership } from './decisions/ownership.js'
import { Quarantine } from './decisions/quarantine.js'
import { buildApp } from './http/app.js'
import { Metrics } from './metrics.js'
import { packageVersion } from './package-info.js'
import { FeedHub } from './projections/feed-hub.js'
import { ProcessStats } from './projections/process-stats.js'
import { missingReviewHistory, reviewHistoryAdvice } from './projections/review-queries.js'
import { TruckQueries } from './projections/truck-queries.js'
import { PartitionQueues } from './queue/partition-queues.js'
import { partitionOf } from './queue/partitions.js'
import { redisErrorReporter } from './queue/redis.js'
import { openStorage, type Storage } from './storage.js'

/**
 * The composition root, in the order of a command's way: storage (SQLite or PostgreSQL), the
 * partition queues on Redis, the decision loop with its group commit, ownership of partitions and,
 * for `serve`, the command intake and the HTTP API. `close()` is the graceful shutdown: stop taking
 * requests, let in-flight ones get their answer, finish the cycle in progress, hand the partitions back.
 */
export interface RunningService {
  readonly config: Config
  readonly storage: Storage
  readonly queues: PartitionQueues
  readonly worker: DrainLoop
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

/** The certificate and key files, read at start-up (an unreadable file is an operator's error). */
function readTls(config: Pick<Config, 'tls'>): { cert: Buffer; key: Buffer } | undefined {
  if (!config.tls) return undefined
  const read = (variable: string, file: string) => {
    try {
      return readFileSync(file)
    } catch (error) {
      throw new ConfigError(`invalid configuration: ${variable}=${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`)
    }
  }
  return { cert: read('WAYBILL_TLS_CERT', config.tls.certFile), key: read('WAYBILL_TLS_KEY', config.tls.keyFile) }
}

/** The HTTP port could not be bound: an operator's error, said in one line (exit 2). */
export class ListenError extends Error {
  override readonly name = 'ListenError'
}

function listenError(error: unknown, config: Pick<Config, 'host' | 'port'>): Error {
  const code = (error as { code?: string }).code
  const where = `cannot listen on ${config.host}:${config.port}`
  switch (code) {
    case 'EADDRINUSE':
      return new ListenError(`${where}: the port is in use (another waybill, or another program): stop it or set PORT`)
    case 'EADDRNOTAVAIL':
      return new ListenError(`${where}: ${config.host} is not an address of this machine: set HOST (0.0.0.0 for every interface)`)
    case 'EACCES':
      return new ListenError(`${where}: permission denied (ports below 1024 need privileges): set PORT`)
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ListenError(`${where}: HOST=${config.host} does not resolve: set HOST to an address (0.0.0.0 for every interface)`)
    default:
      return error as Error
  }
}

const loopback = (host: string) => /^(127\.|::1$|\[::1\]$|localhost$)/.test(host)

/**
 * The bootstrap token is an admin token for anyone who knows it: said at every start while it is set,
 * as an error when the API listens beyond this machine.
 */
export function warnAboutBootstrapToken(config: Pick<Config, 'bootstrapToken' | 'host'>, log: Pick<Logger, 'warn' | 'error'>): void {
  if (!config.bootstrapToken) return
  const advice = 'create real tokens (waybill tokens create), then remove WAYBILL_BOOTSTRAP_TOKEN and restart'
  if (loopback(config.host)) log.warn({ host: config.host }, `WAYBILL_BOOTSTRAP_TOKEN is set: an admin token for anyone on this machine who knows it; ${advice}`)
  else log.error({ host: config.host }, `WAYBILL_BOOTSTRAP_TOKEN IS SET WHILE THE API LISTENS ON ${config.host}: an admin token for anyone on the network who knows it; ${advice}`)
}

/**
 * Secrets that must never reach a log line: the bearer token a request carries, and a `token` field.
 * Named paths only: a path that begins with a wildcard (`*.token`) makes pino pass every field of
 * every line through the redactor, which cloned and re-parsed its paths per field: about 5 KB of
 * garbage per command at `info`, measured under load. No line logs an object with a nested `token`.
 */
export const logRedaction = { paths: ['req.headers.authorization', 'token'], censor: '[redacted]' }

/**
 * ISO timestamps (`"time":"2026-12-01T21:30:00.000Z"`): what an operator reads in a journal. Written
 * to stdout asynchronously (a line never waits for the pipe on the request path); pino flushes what
 * is buffered when the process exits, also through `process.exit` — only a kill -9 can lose the last
 * lines, never a command (the log is not the record: the database is).
 */
export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino(
    { level: config.logLevel, timestamp: pino.stdTimeFunctions.isoTime, redact: logRedaction },
    // maxWrite: lines wait for the pipe grouped into chunks of up to 4 KiB (a longer line is a chunk
    // of its own). sonic-boom measures the byte length of the chunk it appends to on every line,
    // copying it whole: with its 16 KiB default, a burst of answers copied about 8 KB per line
    // (allocation sampling under load); 1.4 µs less CPU per line in an in-process test.
    pino.destination({ dest: 1, sync: false, maxWrite: 4096 }),
  )
}

export async function startService(config: Config, options: ServiceOptions): Promise<RunningService> {
  const log = options.logger ?? createLogger(config)
  const clock = options.clock ?? Date.now
  const owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`
  const faults = parseFaults(config.faults)
  if (config.faults) log.warn({ faults: config.faults }, 'FAULT INJECTION IS ON (WAYBILL_FAULTS): for tests only')
  if (options.api) warnAboutBootstrapToken(config, log)
  const tls = options.api ? readTls(config) : undefined
  const storage = await openStorage(config, clock)
  const { store } = storage
  if (options.api) {
    const gap = await missingReviewHistory(store.sql)
    if (gap) log.warn(gap, reviewHistoryAdvice(gap))
  }
  // Held for the process's life: `events import` is refused meanwhile (the store's served lock).
  let served: { release(): Promise<void> }
  try {
    served = await store.holdServed((error) => log.warn({ err: error }, 'the served lock was lost (its database session ended); taking it again'))
  } catch (error) {
    await storage.close()
    throw error
  }
  const closeStorage = async () => {
    await served.release()
    await storage.close()
  }
  let queues: PartitionQueues
  let installation: Awaited<ReturnType<typeof store.installation.info>>
  let prefix: string
  try {
    const restored = await store.installation.beginServing(clock())
    if (restored) {
      log.warn(
        { generation: restored.generation, after: restored.afterPosition, resumesAt: restored.resumesAt },
        `started on a restored backup: the event feed continues at position ${restored.resumesAt}; feed consumers resuming after ${restored.afterPosition} are refused (409 feed-reset) and told to resume after ${restored.afterPosition}. Tokens revoked since the backup are valid again: revoke them again`,
      )
    }
    installation = await store.installation.info()
    prefix = await store.installation.keyPrefix()
    queues = await PartitionQueues.connect({
      redisUrl: config.redisUrl,
      prefix,
      partitions: config.partitions,
      stallIntervalMs: config.stallIntervalMs,
      coalesceWakes: config.coalesceWakes,
      onError: redisErrorReporter(log),
      onConnection: (up) =>
        up ? log.info({}, 'redis connected') : log.warn({}, 'redis connection lost: commands are still taken in, and decided for the partitions held here'),
    })
  } catch (error) {
    await closeStorage()
    throw error
  }
  const replies = new Replies()
  // A submission waits this long for a locked database; its request then waits the reply timeout.
  const intakeWaitMs = Math.max(2000, config.replyTimeoutMs)
  const feed = new FeedHub(store.events, { faults })
  const metrics: Metrics = new Metrics({
    store,
    queueDepths: () => queues.depths(),
    heldPartitions: () => worker.held().size,
    partitions: config.partitions,
    actorCacheSize: () => actors.size,
    clock,
  })
  const actors = new ActorCache({ size: config.actorCacheSize, onHydrate: (source) => metrics.hydrated(source) })
  const groupCommit = new GroupCommit({ maxIntake: config.maxPending, clock })
  const quarantine = new Quarantine(
    { store, actors, clock, log, onParked: () => metrics.parkings.inc() },
    { maxAttempts: config.maxAttempts, batchMax: config.batchMax },
  )
  const worker: DrainLoop = new DrainLoop(
    {
      store, intake: groupCommit, actors, quarantine, clock, log, faults,
      onDecided: (decided) => {
        metrics.decided(decided, clock())
        const reports = decided.map((d) => d.report)
        // Requests waiting here are answered directly; ids of the others go out on the `decided`
        // channel for the process that holds them.
        const remote = reports.filter((r) => !replies.isWaiting(r.commandId)).map((r) => r.commandId)
        replies.settle(reports)
        if (reports.some((r) => r.event)) feed.poke()
        if (remote.length) queues.publishDecided(remote).catch((error) => log.warn({ err: error }, 'decided ids not published'))
      },
      // Messages between actors: their partitions' owners (here or in another process) are woken.
      onMessages: (wake) => {
        if (!queues.available()) return
        for (const [partition, job] of wake) queues.wake(partition, job).catch(() => {})
      },
      onFenced: (partition) => void ownership.drop(partition),
    },
    { partitions: config.partitions, batchMax: config.batchMax, snapshotEvery: config.snapshotEvery, lingerMs: config.batchLingerMs, intakeWaitMs },
  )
  const ownership: Ownership = new Ownership(
    { queues, epochs: store.epochs, worker, inbox: store.inbox, clock, log },
    {
      owner, prefix, partitions: config.partitions, leaseMs: Math.max(1000, config.stallIntervalMs), tickMs: config.sweepIntervalMs,
      ignoreLeases: faults.ignoreLeases, maxPartitions: config.maxPartitions, maxWaitMs: config.maxWaitMs,
    },
  )

  let app: FastifyInstance | null = null
  let url: string | null = null
  try {
    // Refused while live processes of this installation run with another partition count; with none
    // live, a changed count is taken over (undecided commands move to their new partitions).
    await ownership.join(installation.partitions)
    if (installation.partitions !== config.partitions) {
      const moved = await store.inbox.repartitionPending((streamId) => partitionOf(streamId, config.partitions))
      if (installation.partitions !== null) log.warn({ moved, from: installation.partitions, partitions: config.partitions }, 'WAYBILL_PARTITIONS changed: undecided commands moved to their new partitions')
      await store.installation.recordPartitions(config.partitions)
    }
    if (options.api) {
      const intake = new CommandIntake(
        { sink: groupCommit, inbox: store.inbox, devices: store.devices, queues, replies, queries: storage.queries, clock, log, faults, onQueued: (command) => metrics.commandsReceived.inc({ type: command.type }) },
        { partitions: config.partitions, replyTimeoutMs: config.replyTimeoutMs, maxPending: config.maxPending },
      )
      app = await buildApp(
        {
          intake, store, queries: storage.queries, trucks: new TruckQueries(store), tokens: storage.tokens, clock,
          stats: new ProcessStats(store.sql), feed, metrics,
          kick: () => void worker.kick(),
          checks: {
            [store.dialect]: () => store.writable(),
            redis: () => queues.available(),
            partitions: async () => {
              const health = await ownership.health()
              return health.unowned.length === 0 && health.oldestWaitMs <= health.maxWaitMs
            },
          },
        },
        {
          rateLimit: config.rateLimit, authFailureLimit: config.authFailureLimit, maxEventLoopDelayMs: config.maxEventLoopDelayMs, requestTimeoutMs: config.requestTimeoutMs,
          answerWithinMs: intakeWaitMs + config.replyTimeoutMs, maxStreamsPerToken: config.maxStreamsPerToken,
          stuckAfterMs: config.stuckAfterMs, corsOrigins: config.corsOrigins, version: packageVersion, logger: log, faults,
          tls, trustProxy: config.trustProxy,
        },
      )
      if (options.listen !== false) {
        url = await app.listen({ port: config.port, host: config.host }).catch((error: unknown) => {
          throw listenError(error, config)
        })
      }
    }
    // Only now, with the port bound: a start that fails (port in use, bad HOST) never takes partitions.
    await ownership.start()
  } catch (error) {
    await app?.close().catch(() => {})
    await ownership.stop()
    await queues.close()
    await closeStorage()
    throw error
  }
  log.info(
    { owner, installation: installation.id, partitions: config.partitions, url, database: `${store.dialect} ${store.location}` },
    options.api ? 'waybill serving' : 'waybill worker running',
  )

  // Token sightings are kept in memory on the request path and written here, off it.
  const seenFlush = setInterval(() => void storage.tokens.flushSeen(), 10_000)
  seenFlush.unref()
  let closing: Promise<void> | null = null
  return {
    config, storage, queues, worker, ownership, replies, metrics, owner, app, url, log,
    close() {
      closing ??= (async () => {
        await app?.close()
        clearInterval(seenFlush)
        await storage.tokens.flushSeen()
        await ownership.stop()
        await queues.close()
        await closeStorage()
      })()
      return closing
    },
  }
}
