import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants, mkdirSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { call, clientReady, createRedisClient, quit, RedisRefusedError, refusalAdvice, refusalOf } from './redis.js'

/**
 * The embedded single-node default: when no Redis answers at a local REDIS_URL, start a `redis-server`
 * with an append-only file under `<data>/redis/` and keep it running (restarted if it dies) for as long
 * as the service runs. If none is installed, say how to install it.
 */
export class RedisMissingError extends Error {
  override readonly name = 'RedisMissingError'
}

export interface EmbeddedRedis {
  readonly pid: number | undefined
  stop(): Promise<void>
}

interface Log {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

/**
 * What answers at a Redis URL: a Redis that serves us (`ok`), nothing (`absent`: refused connection
 * or silence), or a server that answers but refuses us (`refused`: NOAUTH, WRONGPASS, NOPERM, or
 * READONLY for a replica; found with a short-lived write of a key of our own).
 */
export type RedisProbe =
  | { readonly state: 'ok'; readonly version: string }
  | { readonly state: 'absent'; readonly detail: string }
  | { readonly state: 'refused'; readonly code: string; readonly detail: string }

export async function probeRedis(url: string, timeoutMs = 1000): Promise<RedisProbe> {
  // Without the ready check the client is usable at once, so a refusal comes back as an answer to our
  // own commands instead of a ready check that never succeeds.
  const client = createRedisClient(url, 'probe', undefined, { readyCheck: false })
  try {
    await clientReady(client, timeoutMs)
    const info = String(await call<unknown>(timeoutMs, 'info', (done) => client.info('server', done as never)))
    await call<unknown>(timeoutMs, 'probe write', (done) => client.set(`waybill:probe:${process.pid}`, '1', 'PX', 1000, done))
    return { state: 'ok', version: /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? '?' }
  } catch (error) {
    const code = error instanceof RedisRefusedError ? error.code : refusalOf(error)
    if (code) return { state: 'refused', code, detail: (error as Error).message }
    return { state: 'absent', detail: (error as Error).message }
  } finally {
    await quit(client)
  }
}

export async function redisAnswers(url: string, timeoutMs = 1000): Promise<boolean> {
  return (await probeRedis(url, timeoutMs)).state === 'ok'
}

export function findExecutable(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter).concat(['/usr/bin', '/usr/sbin', '/usr/local/bin'])) {
    if (!dir) continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

/** Returns null when a Redis already answers; otherwise starts and supervises one (or throws). */
export async function ensureRedis(options: { url: string; dataDir: string; mode: 'auto' | 'never'; log: Log }): Promise<EmbeddedRedis | null> {
  const probe = await probeRedis(options.url)
  if (probe.state === 'ok') return null
  if (probe.state === 'refused') {
    // Something owns the port: an embedded redis-server could not bind it, and would not be the right one.
    throw new RedisRefusedError(probe.code, `Redis at ${options.url} answers but refuses this service (${probe.detail}): ${refusalAdvice(probe.code)}`)
  }
  const url = new URL(options.url)
  const local = ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(url.hostname)
  if (options.mode === 'never' || !local) {
    throw new RedisMissingError(`no Redis answers at ${options.url}; start it or point REDIS_URL at one`)
  }
  const binary = findExecutable('redis-server')
  if (!binary) {
    throw new RedisMissingError(
      `no Redis answers at ${options.url} and redis-server is not installed: install it (Debian: sudo apt-get install redis-server) or set REDIS_URL`,
    )
  }
  const dir = join(options.dataDir, 'redis')
  mkdirSync(dir, { recursive: true })
  const args = [
    '--port', url.port || '6379', '--bind', '127.0.0.1', '--dir', dir,
    '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--daemonize', 'no',
    '--logfile', join(dir, 'redis.log'),
  ]
  let child: ChildProcess | null = null
  let stopping = false
  const start = () => {
    child = spawn(binary, args, { stdio: 'ignore' })
    options.log.info({ redisPid: child.pid, dir }, 'started embedded redis-server')
    child.once('exit', (code, signal) => {
      if (stopping) return
      options.log.warn({ code, signal }, 'embedded redis-server exited; restarting it')
      setTimeout(start, 500).unref()
    })
  }
  start()
  const deadline = Date.now() + 10_000
  while (!(await redisAnswers(options.url, 500))) {
    if (Date.now() > deadline) {
      stopping = true
      ;(child as ChildProcess | null)?.kill('SIGTERM')
      throw new RedisMissingError(`embedded redis-server did not answer at ${options.url} within 10 s; see ${join(dir, 'redis.log')}`)
    }
    await sleep(100)
  }
  return {
    get pid() {
      return (child as ChildProcess | null)?.pid
    },
    async stop() {
      stopping = true
      const running = child as ChildProcess | null
      if (!running || running.exitCode !== null) return
      const exited = new Promise((resolve) => running.once('exit', resolve))
      running.kill('SIGTERM')
      await Promise.race([exited, sleep(5000)])
    },
  }
}
