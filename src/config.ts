import { createRequire } from 'node:module'
import { resolve } from 'node:path'
import { Type, type Static } from 'typebox'

/**
 * The only reader of `process.env`: every setting of the service, its default and its meaning, in one
 * schema. `loadConfig` validates once at start-up (a bad value names its variable) and returns a frozen
 * object that is passed to whoever needs it.
 */
const Env = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'HTTP port' }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'bind address (0.0.0.0 for the depot LAN)' }),
  WAYBILL_TLS_CERT: Type.Optional(Type.String({ minLength: 1, description: 'PEM certificate file (chain) for HTTPS; with WAYBILL_TLS_KEY the API serves HTTPS only' })),
  WAYBILL_TLS_KEY: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key file for WAYBILL_TLS_CERT' })),
  WAYBILL_TRUST_PROXY: Type.Optional(Type.String({ minLength: 1, description: 'comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For names the client (throttling, logs); unset: none is trusted' })),
  REDIS_URL: Type.String({ pattern: '^rediss?://', default: 'redis://127.0.0.1:6379', description: 'Redis for the partition queues' }),
  WAYBILL_DATA_DIR: Type.String({ minLength: 1, default: './data', description: 'SQLite database and embedded Redis files' }),
  WAYBILL_DATABASE_URL: Type.Optional(
    Type.String({
      pattern: '^postgres(ql)?://',
      description: 'unset: the embedded SQLite database under WAYBILL_DATA_DIR; postgres://user:password@host:port/database: a PostgreSQL database shared by every Waybill process of the installation, on any number of hosts',
    }),
  ),
  WAYBILL_PARTITIONS: Type.Integer({ minimum: 1, maximum: 256, default: 8, description: 'number of queue partitions' }),
  WAYBILL_REPLY_TIMEOUT_MS: Type.Integer({ minimum: 0, maximum: 60000, default: 2000, description: 'how long a command request waits for its outcome before answering 202' }),
  // The bearer-token grammar of `Authorization: Bearer <token>` (src/http/auth.ts): a token outside it
  // could never be presented, so it is a configuration error, not a silent lock-out.
  WAYBILL_BOOTSTRAP_TOKEN: Type.Optional(Type.String({ minLength: 16, maxLength: 512, pattern: '^[\\x21-\\x7E]+$', description: 'accepted as an admin bearer token (first setup, tests); 16–512 visible ASCII characters' })),
  WAYBILL_RATE_LIMIT: Type.Integer({ minimum: 0, default: 50, description: 'requests per second per token before 429; 0 turns the limit off' }),
  WAYBILL_AUTH_FAILURE_LIMIT: Type.Integer({ minimum: 1, default: 20, description: 'failed authentications per minute from one address before it gets 429 for the rest of the minute' }),
  WAYBILL_EMBEDDED_REDIS: Type.Union([Type.Literal('auto'), Type.Literal('never')], { default: 'auto', description: 'start and supervise a redis-server when none answers at a local REDIS_URL' }),
  WAYBILL_LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info', description: 'log level (JSON logs on stdout)' }),
  WAYBILL_BATCH_MAX: Type.Integer({ minimum: 1, maximum: 10000, default: 256, description: 'most commands taken in and decided per SQLite transaction (group commit; 1 = one transaction per command)' }),
  WAYBILL_ACTOR_CACHE: Type.Integer({ minimum: 0, default: 10000, description: 'hydrated shipments kept in memory per worker (0 = none)' }),
  WAYBILL_SNAPSHOT_EVERY: Type.Integer({ minimum: 1, maximum: 1000, default: 16, description: 'persist a checkpoint every N events of a shipment (1–1000): a read of any past version replays at most N-1 events after one' }),
  WAYBILL_BUSY_TIMEOUT_MS: Type.Integer({ minimum: 0, maximum: 2000, default: 100, description: 'SQLite busy timeout (a write waits this long for another process\'s lock, then retries later); far below the stall interval' }),
  WAYBILL_STALL_INTERVAL_MS: Type.Integer({ minimum: 1000, default: 5000, description: 'bee-queue stall interval' }),
  WAYBILL_SWEEP_INTERVAL_MS: Type.Integer({ minimum: 50, default: 1000, description: 'how often an owner looks for inbox commands whose wake-up job was lost' }),
  WAYBILL_BATCH_LINGER_MS: Type.Integer({ minimum: 0, maximum: 20, default: 1, description: 'while commands other processes take in keep coming, the worker looks for the next batch after this pause instead of waiting for their wake-up job (0: only on wake-ups); commands this process takes in start a cycle at once' }),
  WAYBILL_MAX_PARTITIONS: Type.Optional(Type.Integer({ minimum: 0, description: 'most partitions this process decides (default: a fair share of the live workers; 0 = an API-only `serve`, decisions left to `waybill worker` processes)' })),
  WAYBILL_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 100, default: 5, description: 'failed attempts at one command (infrastructure errors) before its shipment is parked' }),
  WAYBILL_MAX_PENDING: Type.Integer({ minimum: 1, default: 10000, description: 'undecided commands in the inbox above which new commands get 503 + Retry-After' }),
  WAYBILL_MAX_EVENT_LOOP_DELAY_MS: Type.Integer({ minimum: 10, default: 1000, description: 'event-loop delay above which requests get 503 + Retry-After' }),
  WAYBILL_REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120000, default: 10000, description: 'a client must send its whole request within this time (slow senders are cut off)' }),
  WAYBILL_MAX_WAIT_MS: Type.Integer({ minimum: 1000, default: 30000, description: 'a command undecided this long (or a partition without owner) makes GET /ready answer 503 and is logged at warn' }),
  WAYBILL_STUCK_AFTER_MS: Type.Integer({ minimum: 0, default: 14400000, description: 'a shipment this long in a non-final state is reported as stuck (GET /stats, the process map)' }),
  WAYBILL_MAX_STREAMS_PER_TOKEN: Type.Integer({ minimum: 1, maximum: 1000, default: 8, description: 'most event streams (GET /events/stream) one token may hold open in one process; one more gets 429' }),
  WAYBILL_FAULTS: Type.Optional(Type.String({ description: 'fault injection for tests (see src/faults.ts); never set in production' })),
  WAYBILL_CORS_ORIGINS: Type.Optional(Type.String({ description: 'comma-separated origins (scheme://host[:port]) whose browser apps may call the API (CORS); unset: no cross-origin access' })),
  WAYBILL_WAKE_COALESCE: Type.Boolean({ default: true, description: 'one wake-up job per partition until its owner starts draining (false: one job per command)' }),
})
type Env = Static<typeof Env>

export interface Config {
  readonly port: number
  readonly host: string
  readonly redisUrl: string
  readonly dataDir: string
  readonly databaseFile: string
  /** PostgreSQL instead of the embedded SQLite file (`postgres://…`); undefined: SQLite. */
  readonly databaseUrl: string | undefined
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
  /** Origins allowed to call the API from a browser (CORS); empty: none. */
  readonly corsOrigins: readonly string[]
  readonly maxWaitMs: number
  /** HTTPS: certificate and key files (both set, or neither). */
  readonly tls: { readonly certFile: string; readonly keyFile: string } | undefined
  /** Reverse proxies trusted for X-Forwarded-For (empty: none). */
  readonly trustProxy: readonly string[]
  readonly maxStreamsPerToken: number
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Loaded here, not at import: `waybill --help` reads the schema without paying for the validator.
  const envSchema = createRequire(import.meta.url)('env-schema') as typeof import('env-schema').default
  let parsed: Env
  try {
    parsed = envSchema<Env>({ schema: structuredClone(Env) as object, data: env, env: false })
  } catch (error) {
    throw new ConfigError(`invalid configuration: ${describeErrors(error, env)}`)
  }
  if (parsed.WAYBILL_BUSY_TIMEOUT_MS * 4 > parsed.WAYBILL_STALL_INTERVAL_MS) {
    throw new ConfigError('invalid configuration: WAYBILL_BUSY_TIMEOUT_MS must stay below a quarter of WAYBILL_STALL_INTERVAL_MS')
  }
  const corsOrigins = parseOrigins(parsed.WAYBILL_CORS_ORIGINS)
  if ((parsed.WAYBILL_TLS_CERT === undefined) !== (parsed.WAYBILL_TLS_KEY === undefined)) {
    throw new ConfigError('invalid configuration: set both WAYBILL_TLS_CERT and WAYBILL_TLS_KEY (or neither)')
  }
  const dataDir = resolve(parsed.WAYBILL_DATA_DIR)
  return Object.freeze({
    port: parsed.PORT,
    host: parsed.HOST,
    redisUrl: parsed.REDIS_URL,
    dataDir,
    databaseFile: resolve(dataDir, 'waybill.db'),
    databaseUrl: parsed.WAYBILL_DATABASE_URL,
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
    corsOrigins: Object.freeze(corsOrigins),
    maxWaitMs: parsed.WAYBILL_MAX_WAIT_MS,
    tls: parsed.WAYBILL_TLS_CERT && parsed.WAYBILL_TLS_KEY ? Object.freeze({ certFile: resolve(parsed.WAYBILL_TLS_CERT), keyFile: resolve(parsed.WAYBILL_TLS_KEY) }) : undefined,
    trustProxy: Object.freeze((parsed.WAYBILL_TRUST_PROXY ?? '').split(',').map((p) => p.trim()).filter(Boolean)),
    maxStreamsPerToken: parsed.WAYBILL_MAX_STREAMS_PER_TOKEN,
  })
}

/** Each entry must be an exact origin (no wildcard, path, query or credentials): the allow-list is matched literally. */
function parseOrigins(value: string | undefined): string[] {
  if (value === undefined || value.trim() === '') return []
  return value.split(',').map((entry) => {
    const origin = entry.trim()
    let url: URL | undefined
    try {
      url = new URL(origin)
    } catch {
      url = undefined
    }
    if (!url || !/^https?:$/.test(url.protocol) || url.origin !== origin) {
      throw new ConfigError(`invalid configuration: WAYBILL_CORS_ORIGINS entry '${origin}' is not an origin like https://scanner.example or http://10.0.0.5:8080`)
    }
    return origin
  })
}

interface SchemaError {
  readonly instancePath: string
  readonly keyword: string
  readonly message?: string
  readonly params: { allowedValue?: unknown }
}

/** Settings whose value is a secret: an error names them but never echoes what was set. */
export const secretVariables: ReadonlySet<string> = new Set(['WAYBILL_BOOTSTRAP_TOKEN', 'WAYBILL_DATABASE_URL'])

/** One line for all bad settings: each named with its value (not a secret's) and, for a choice, the allowed values. */
function describeErrors(error: unknown, env: Record<string, string | undefined>): string {
  const errors = (error as { errors?: SchemaError[] }).errors
  if (!Array.isArray(errors)) return (error as Error).message.replaceAll('env/', '')
  const byVariable = new Map<string, SchemaError[]>()
  for (const e of errors) {
    const variable = e.instancePath.replace(/^\//, '') || '(environment)'
    byVariable.set(variable, [...(byVariable.get(variable) ?? []), e])
  }
  return [...byVariable]
    .map(([variable, list]) => {
      const value = env[variable] === undefined || secretVariables.has(variable) ? '' : `=${env[variable]}`
      const allowed = list.filter((e) => e.keyword === 'const').map((e) => String(e.params.allowedValue))
      if (allowed.length > 0) return `${variable}${value} is not one of ${allowed.join(', ')}`
      return `${variable}${value} ${list.map((e) => e.message).join(', ')}`
    })
    .join('; ')
}

/** Edit distance (for "did you mean"): small strings only. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    previous = current
  }
  return previous[b.length]!
}

/**
 * `WAYBILL_*` variables that are no setting (a typo such as WAYBILL_PARTITION=4 would otherwise be
 * ignored without a word): one warning each, naming the likely setting.
 */
export function unknownVariables(env: Record<string, string | undefined>): string[] {
  const known = Object.keys(Env.properties)
  return Object.keys(env)
    .filter((name) => name.startsWith('WAYBILL_') && !known.includes(name))
    .map((name) => {
      const [likely] = known.map((k) => [k, distance(name, k)] as const).sort((x, y) => x[1] - y[1])
      const hint = likely && likely[1] <= Math.max(3, Math.floor(name.length / 4)) ? `; did you mean ${likely[0]}?` : ''
      return `${name} is not a Waybill setting and is ignored${hint} (waybill config lists them)`
    })
}

/** The settings as documentation rows (README, `waybill --help`): variable, default, meaning. */
export function configReference(): Array<{ variable: string; default: string; meaning: string }> {
  return Object.entries(Env.properties).map(([variable, schema]) => {
    const s = schema as { default?: unknown; description?: string }
    return { variable, default: s.default === undefined ? 'unset' : String(s.default), meaning: s.description ?? '' }
  })
}
