import { resolve } from 'node:path'
import envSchema from 'env-schema'
import { Type, type Static } from 'typebox'

/**
 * The only reader of `process.env`: every setting of the service, its default and its meaning, in one
 * schema. `loadConfig` validates once at start-up (a bad value names its variable) and returns a frozen
 * object that is passed to whoever needs it.
 */
const Env = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'HTTP port' }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'bind address (0.0.0.0 for the depot LAN)' }),
  REDIS_URL: Type.String({ pattern: '^rediss?://', default: 'redis://127.0.0.1:6379', description: 'Redis for the partition queues' }),
  WAYBILL_DATA_DIR: Type.String({ minLength: 1, default: './data', description: 'SQLite database and embedded Redis files' }),
  WAYBILL_PARTITIONS: Type.Integer({ minimum: 1, maximum: 256, default: 8, description: 'number of queue partitions' }),
  WAYBILL_REPLY_TIMEOUT_MS: Type.Integer({ minimum: 0, maximum: 60000, default: 2000, description: 'how long a command request waits for its outcome before answering 202' }),
  WAYBILL_BOOTSTRAP_TOKEN: Type.Optional(Type.String({ minLength: 16, description: 'accepted as an admin bearer token (first setup, tests)' })),
  WAYBILL_RATE_LIMIT: Type.Integer({ minimum: 0, default: 50, description: 'requests per second per token before 429; 0 turns the limit off' }),
  WAYBILL_AUTH_FAILURE_LIMIT: Type.Integer({ minimum: 1, default: 20, description: 'failed authentications per minute from one address before it gets 429 for the rest of the minute' }),
  WAYBILL_EMBEDDED_REDIS: Type.Union([Type.Literal('auto'), Type.Literal('never')], { default: 'auto', description: 'start and supervise a redis-server when none answers at a local REDIS_URL' }),
  WAYBILL_LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info', description: 'log level (JSON logs on stdout)' }),
  WAYBILL_BATCH_MAX: Type.Integer({ minimum: 1, maximum: 10000, default: 256, description: 'most commands taken in and decided per SQLite transaction (group commit; 1 = one transaction per command)' }),
  WAYBILL_ACTOR_CACHE: Type.Integer({ minimum: 0, default: 10000, description: 'hydrated shipments kept in memory per worker (0 = none)' }),
  WAYBILL_SNAPSHOT_EVERY: Type.Integer({ minimum: 1, default: 16, description: 'persist a snapshot every N events of a shipment' }),
  WAYBILL_BUSY_TIMEOUT_MS: Type.Integer({ minimum: 0, maximum: 2000, default: 100, description: 'SQLite busy timeout (a write waits this long for another process\'s lock, then retries later); far below the stall interval' }),
  WAYBILL_STALL_INTERVAL_MS: Type.Integer({ minimum: 1000, default: 5000, description: 'bee-queue stall interval' }),
  WAYBILL_SWEEP_INTERVAL_MS: Type.Integer({ minimum: 50, default: 1000, description: 'how often an owner looks for inbox commands whose wake-up job was lost' }),
  WAYBILL_BATCH_LINGER_MS: Type.Integer({ minimum: 0, maximum: 20, default: 1, description: 'while commands keep coming, the worker looks for the next batch after this pause instead of waiting for a wake-up job (0: only on wake-ups)' }),
  WAYBILL_MAX_PARTITIONS: Type.Optional(Type.Integer({ minimum: 0, description: 'most partitions this process decides (default: a fair share of the live workers; 0 = an API-only `serve`, decisions left to `waybill worker` processes)' })),
  WAYBILL_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 100, default: 5, description: 'failed attempts at one command (infrastructure errors) before its shipment is parked' }),
  WAYBILL_MAX_PENDING: Type.Integer({ minimum: 1, default: 10000, description: 'undecided commands in the inbox above which new commands get 503 + Retry-After' }),
  WAYBILL_MAX_EVENT_LOOP_DELAY_MS: Type.Integer({ minimum: 10, default: 1000, description: 'event-loop delay above which requests get 503 + Retry-After' }),
  WAYBILL_REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120000, default: 10000, description: 'a client must send its whole request within this time (slow senders are cut off)' }),
  WAYBILL_STUCK_AFTER_MS: Type.Integer({ minimum: 0, default: 14400000, description: 'a shipment this long in a non-final state is reported as stuck (GET /stats, the process map)' }),
  WAYBILL_FAULTS: Type.Optional(Type.String({ description: 'fault injection for tests (see src/faults.ts); never set in production' })),
  WAYBILL_WAKE_COALESCE: Type.Boolean({ default: true, description: 'one wake-up job per partition until its owner starts draining (false: one job per command)' }),
})
type Env = Static<typeof Env>

export interface Config {
  readonly port: number
  readonly host: string
  readonly redisUrl: string
  readonly dataDir: string
  readonly databaseFile: string
  readonly partitions: number
  readonly replyTimeoutMs: number
  readonly bootstrapToken: string | undefined
  readonly rateLimit: number
  readonly authFailureLimit: number
  readonly embeddedRedis: 'auto' | 'never'
  readonly logLevel: string
  readonly batchMax: number
  readonly actorCacheSize: number
  readonly snapshotEvery: number
  readonly busyTimeoutMs: number
  readonly stallIntervalMs: number
  readonly sweepIntervalMs: number
  readonly batchLingerMs: number
  readonly coalesceWakes: boolean
  readonly maxAttempts: number
  readonly maxPartitions: number | undefined
  readonly maxPending: number
  readonly maxEventLoopDelayMs: number
  readonly requestTimeoutMs: number
  readonly faults: string | undefined
  readonly stuckAfterMs: number
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  let parsed: Env
  try {
    parsed = envSchema<Env>({ schema: structuredClone(Env) as object, data: env, env: false })
  } catch (error) {
    throw new ConfigError(`invalid configuration: ${(error as Error).message.replaceAll('env/', '')}`)
  }
  if (parsed.WAYBILL_BUSY_TIMEOUT_MS * 4 > parsed.WAYBILL_STALL_INTERVAL_MS) {
    throw new ConfigError('invalid configuration: WAYBILL_BUSY_TIMEOUT_MS must stay below a quarter of WAYBILL_STALL_INTERVAL_MS')
  }
  const dataDir = resolve(parsed.WAYBILL_DATA_DIR)
  return Object.freeze({
    port: parsed.PORT,
    host: parsed.HOST,
    redisUrl: parsed.REDIS_URL,
    dataDir,
    databaseFile: resolve(dataDir, 'waybill.db'),
    partitions: parsed.WAYBILL_PARTITIONS,
    replyTimeoutMs: parsed.WAYBILL_REPLY_TIMEOUT_MS,
    bootstrapToken: parsed.WAYBILL_BOOTSTRAP_TOKEN,
    rateLimit: parsed.WAYBILL_RATE_LIMIT,
    authFailureLimit: parsed.WAYBILL_AUTH_FAILURE_LIMIT,
    embeddedRedis: parsed.WAYBILL_EMBEDDED_REDIS,
    logLevel: parsed.WAYBILL_LOG_LEVEL,
    batchMax: parsed.WAYBILL_BATCH_MAX,
    actorCacheSize: parsed.WAYBILL_ACTOR_CACHE,
    snapshotEvery: parsed.WAYBILL_SNAPSHOT_EVERY,
    busyTimeoutMs: parsed.WAYBILL_BUSY_TIMEOUT_MS,
    stallIntervalMs: parsed.WAYBILL_STALL_INTERVAL_MS,
    sweepIntervalMs: parsed.WAYBILL_SWEEP_INTERVAL_MS,
    batchLingerMs: parsed.WAYBILL_BATCH_LINGER_MS,
    coalesceWakes: parsed.WAYBILL_WAKE_COALESCE,
    maxAttempts: parsed.WAYBILL_MAX_ATTEMPTS,
    maxPartitions: parsed.WAYBILL_MAX_PARTITIONS,
    maxPending: parsed.WAYBILL_MAX_PENDING,
    maxEventLoopDelayMs: parsed.WAYBILL_MAX_EVENT_LOOP_DELAY_MS,
    requestTimeoutMs: parsed.WAYBILL_REQUEST_TIMEOUT_MS,
    faults: parsed.WAYBILL_FAULTS,
    stuckAfterMs: parsed.WAYBILL_STUCK_AFTER_MS,
  })
}

/** The settings as documentation rows (README, `waybill --help`): variable, default, meaning. */
export function configReference(): Array<{ variable: string; default: string; meaning: string }> {
  return Object.entries(Env.properties).map(([variable, schema]) => {
    const s = schema as { default?: unknown; description?: string }
    return { variable, default: s.default === undefined ? 'unset' : String(s.default), meaning: s.description ?? '' }
  })
}
