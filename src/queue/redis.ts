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
 * The v3 client's `connect_timeout` is not per attempt: it bounds the *total* time spent reconnecting,
 * after which the client ends for good (and a bee-queue still waiting for `ready` rejects unhandled).
 * Set to the longest a Node timer holds (~24.8 days), so an outage of any realistic length is survived.
 */
const reconnectBudgetMs = 2 ** 31 - 1

export function createRedisClient(url: string, name: string): RedisClient {
  const client = redis.createClient(url, {
    enable_offline_queue: false,
    connect_timeout: reconnectBudgetMs,
    retry_strategy: ({ attempt }) => Math.min(50 * attempt, 1000),
  })
  // Without a listener an 'error' event would crash the process; availability is read from `ready`.
  client.setMaxListeners(0)
  client.on('error', () => {})
  ;(client as RedisClient & { waybillName?: string }).waybillName = name
  return client
}

/** Connected and past its ready check (the v3 client's `ready` flag, missing from its typings). */
export function isReady(client: RedisClient): boolean {
  return (client as RedisClient & { ready?: boolean }).ready === true
}

/** Resolves when the client is ready; rejects after `ms`. */
export function clientReady(client: RedisClient, ms: number): Promise<void> {
  if (isReady(client)) return Promise.resolve()
  return withTimeout(
    new Promise<void>((resolve) => client.once('ready', () => resolve())),
    ms,
    'redis did not become ready',
  )
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
        run((err, value) => (err ? reject(new RedisUnavailableError(`${what}: ${err.message}`)) : resolve(value)))
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
