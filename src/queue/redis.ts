import redis, { type RedisClient } from 'redis'

/**
 * Redis clients (the `redis` v3 client bee-queue is built on). Offline queueing is off, so a command
 * issued while Redis is unreachable fails at once instead of waiting for a reconnect; every call we
 * make is also bounded by `withTimeout`. Reconnects retry every ≤ 1 s, forever.
 */
export type { RedisClient }

export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError'
}

/**
 * Something answers at REDIS_URL but will not serve us: a password is missing or wrong (NOAUTH,
 * WRONGPASS), the user lacks a permission (NOPERM), or it is a read-only replica (READONLY). Unlike
 * "not reachable", waiting does not help and starting an embedded redis-server on that port cannot.
 */
export class RedisRefusedError extends Error {
  override readonly name = 'RedisRefusedError'
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

/** Reply codes that mean "this server refuses us" rather than "try again". */
const refusalCodes = new Set(['NOAUTH', 'WRONGPASS', 'NOPERM', 'READONLY', 'MISCONF'])

/** The refusal a Redis error stands for (its reply code), or undefined for any other error. */
export function refusalOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string' && refusalCodes.has(code)) return code
  const word = /\b(NOAUTH|WRONGPASS|NOPERM|READONLY|MISCONF)\b/.exec(String((error as Error | null)?.message ?? ''))?.[1]
  return word
}

/** What to do about a refusal, for logs, `doctor` and the start-up message. */
export function refusalAdvice(code: string): string {
  switch (code) {
    case 'NOAUTH':
    case 'WRONGPASS':
      return 'put the right password in REDIS_URL (redis://:password@host:port, or redis://user:password@host:port)'
    case 'NOPERM':
      return "give REDIS_URL's user access to the waybill:* keys and the commands bee-queue uses"
    case 'READONLY':
      return 'it is a read-only replica: point REDIS_URL at the primary'
    default:
      return 'Redis cannot write its data (see its log)'
  }
}

export type RedisErrorReporter = (error: Error, where: string) => void

/**
 * Logs Redis errors as one line each (code, message, where; no stack), at most one line per kind of
 * error every `everyMs`: an outage makes every client and queue fail at once, many times a second.
 * The next line after a quiet period says how many were left out.
 */
export function redisErrorReporter(log: { warn(obj: object, msg: string): void }, everyMs = 10_000, clock: () => number = Date.now): RedisErrorReporter {
  const seen = new Map<string, { at: number; left: number }>()
  return (error, where) => {
    const code = (error as { code?: unknown }).code
    const kind = typeof code === 'string' ? code : error.message.slice(0, 60)
    const now = clock()
    const last = seen.get(kind)
    if (last && now - last.at < everyMs) {
      last.left++
      return
    }
    seen.set(kind, { at: now, left: 0 })
    const refusal = refusalOf(error)
    log.warn(
      {
        redis: where,
        code: typeof code === 'string' ? code : undefined,
        error: error.message,
        ...(last?.left ? { repeated: last.left } : {}),
        ...(refusal ? { fix: refusalAdvice(refusal) } : {}),
      },
      refusal ? `redis refuses this service (${refusal})` : 'redis error',
    )
  }
}

/**
 * The v3 client's `connect_timeout` is not per attempt: it bounds the *total* time spent reconnecting,
 * after which the client ends for good (and a bee-queue still waiting for `ready` rejects unhandled).
 * Set to the longest a Node timer holds (~24.8 days), so an outage of any realistic length is survived.
 */
const reconnectBudgetMs = 2 ** 31 - 1

export function createRedisClient(url: string, name: string, onError?: RedisErrorReporter, options: { readyCheck?: boolean } = {}): RedisClient {
  const client = redis.createClient(url, {
    enable_offline_queue: false,
    connect_timeout: reconnectBudgetMs,
    retry_strategy: ({ attempt }) => Math.min(50 * attempt, 1000),
    no_ready_check: options.readyCheck === false,
  })
  // A listener is required (an unhandled 'error' event would crash the process); availability is read
  // from `ready`, and the error itself goes to the (rate-limited) reporter, or is kept for `clientReady`.
  client.setMaxListeners(0)
  client.on('error', (error: Error) => {
    ;(client as RedisClient & { lastError?: Error }).lastError = error
    onError?.(error, name)
  })
  ;(client as RedisClient & { waybillName?: string }).waybillName = name
  return client
}

/** The last error the client reported (e.g. NOAUTH on its ready check), if any. */
export function lastError(client: RedisClient): Error | undefined {
  return (client as RedisClient & { lastError?: Error }).lastError
}

/** Connected and past its ready check (the v3 client's `ready` flag, missing from its typings). */
export function isReady(client: RedisClient): boolean {
  return (client as RedisClient & { ready?: boolean }).ready === true
}

/**
 * Resolves when the client is ready; rejects after `ms`, or at once with RedisRefusedError when the
 * server refuses us (NOAUTH on the ready check, WRONGPASS on AUTH): the client would wait forever.
 */
export function clientReady(client: RedisClient, ms: number): Promise<void> {
  if (isReady(client)) return Promise.resolve()
  let onError: ((error: Error) => void) | undefined
  return withTimeout(
    new Promise<void>((resolve, reject) => {
      onError = (error: Error) => {
        const refusal = refusalOf(error)
        if (refusal) reject(new RedisRefusedError(refusal, `Redis refuses this service: ${error.message}; ${refusalAdvice(refusal)}`))
      }
      const refused = lastError(client)
      if (refused) onError(refused)
      client.on('error', onError)
      client.once('ready', () => resolve())
    }),
    ms,
    'redis did not become ready',
  ).finally(() => {
    if (onError) client.removeListener('error', onError)
  })
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisUnavailableError(`${what}: no answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Runs one command with a callback-style client method, bounded by `ms`. */
export function call<T>(ms: number, what: string, run: (done: (err: Error | null, value: T) => void) => void): Promise<T> {
  return withTimeout(
    new Promise<T>((resolve, reject) => {
      try {
        // The reply code (NOAUTH, READONLY, …) is kept: it says whether waiting can help.
        run((err, value) => (err ? reject(Object.assign(new RedisUnavailableError(`${what}: ${err.message}`), { code: (err as { code?: unknown }).code })) : resolve(value)))
      } catch (error) {
        reject(new RedisUnavailableError(`${what}: ${(error as Error).message}`))
      }
    }),
    ms,
    what,
  )
}

export async function quit(client: RedisClient): Promise<void> {
  if (!client.connected) {
    client.end(true)
    return
  }
  await withTimeout(new Promise<void>((resolve) => client.quit(() => resolve())), 1000, 'quit').catch(() => client.end(true))
}
