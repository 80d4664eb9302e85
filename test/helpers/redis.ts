import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { redisAnswers } from '../../src/queue/embedded-redis.js'

/**
 * A redis-server of the test's own, on a free port in a temp dir (never the shared one on 6379), with
 * kill -9 / restart for fault tests. `t.teardown` stops it by its pid.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export interface TestRedis {
  readonly port: number
  readonly url: string
  readonly pid: number | undefined
  /** kill -9 the server (what a crash looks like to the service). */
  kill(): Promise<void>
  /** Start it again on the same port, empty (no persistence). */
  restart(): Promise<void>
}

export async function startRedis(t: { teardown(fn: () => unknown): void }): Promise<TestRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'waybill-redis-'))
  const url = `redis://127.0.0.1:${port}`
  let child: ChildProcess | null = null
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' })
    for (let i = 0; !(await redisAnswers(url, 200)); i++) {
      if (i > 100) throw new Error(`redis-server did not start on ${port}`)
      await sleep(50)
    }
  }
  const kill = async () => {
    const running = child as ChildProcess | null
    if (!running || running.exitCode !== null || running.signalCode !== null) return
    const exited = new Promise((resolve) => running.once('exit', resolve))
    running.kill('SIGKILL')
    await exited
  }
  await start()
  t.teardown(async () => {
    await kill()
    rmSync(dir, { recursive: true, force: true })
  })
  return {
    port,
    url,
    get pid() {
      return (child as ChildProcess | null)?.pid
    },
    kill,
    restart: start,
  }
}

/**
 * Leases every partition of the installation in `dataDir` (created here if new, so that its Redis key
 * namespace is known) to an owner elsewhere that never decides: commands then stay queued.
 */
export async function leasePartitionsElsewhere(redis: TestRedis, dataDir: string, partitions = 8, databaseUrl?: string): Promise<void> {
  const { clientReady, createRedisClient, quit } = await import('../../src/queue/redis.js')
  const { openStorage } = await import('../../src/storage.js')
  const storage = await openStorage({ databaseFile: join(dataDir, 'waybill.db'), databaseUrl, busyTimeoutMs: 1000, bootstrapToken: undefined })
  const prefix = await storage.store.installation.keyPrefix()
  await storage.close()
  const client = createRedisClient(redis.url, 'test')
  await clientReady(client, 2000)
  for (let p = 0; p < partitions; p++) await new Promise((done) => client.set(`${prefix}:lease:${p}`, 'elsewhere', 'PX', 60_000, done))
  await quit(client)
}
