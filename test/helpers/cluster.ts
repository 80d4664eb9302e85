import { join } from 'node:path'
import { openStorage, type Storage } from '../../src/storage.js'
import { spawnWaybill, untilHealthy, type WaybillProcess } from './process.js'
import { freePort, startRedis, type TestRedis } from './redis.js'
import { bootstrapToken, tempDir } from './service.js'

/**
 * A small Waybill installation of real processes for fault tests: its own redis-server, one data
 * directory, `serve` and any number of `waybill worker` processes, each killable.
 */
export interface Cluster {
  readonly redis: TestRedis
  readonly dataDir: string
  readonly base: string
  readonly env: Record<string, string>
  serve(extra?: Record<string, string>): Promise<WaybillProcess>
  /**
   * `serve` for a process that may die before it serves: resolves once it answers `/health` or has
   * exited (a process with a crash fault can reach its fault point on recovered work first).
   */
  launch(extra?: Record<string, string>): Promise<WaybillProcess>
  worker(extra?: Record<string, string>): WaybillProcess
  /** A connection to the database (closed at teardown). */
  storage(): Promise<Storage>
}

export async function startCluster(t: { teardown(fn: () => unknown): void }, env: Record<string, string> = {}): Promise<Cluster> {
  const redis = await startRedis(t)
  const dataDir = tempDir(t)
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const common: Record<string, string> = {
    REDIS_URL: redis.url,
    WAYBILL_DATA_DIR: dataDir,
    PORT: String(port),
    WAYBILL_BOOTSTRAP_TOKEN: bootstrapToken,
    WAYBILL_RATE_LIMIT: '0',
    WAYBILL_EMBEDDED_REDIS: 'never',
    WAYBILL_STALL_INTERVAL_MS: '2000',
    WAYBILL_SWEEP_INTERVAL_MS: '200',
    WAYBILL_REPLY_TIMEOUT_MS: '1000',
    // Load shedding on event-loop delay is for production: on a loaded test machine a process's own
    // start-up blocks its loop past the 1 s default and it sheds the first requests (overload.test.ts
    // sets a low limit where shedding is what it tests).
    WAYBILL_MAX_EVENT_LOOP_DELAY_MS: '60000',
    ...env,
  }
  let storage: Promise<Storage> | null = null
  t.teardown(async () => (await storage)?.close())
  return {
    redis,
    dataDir,
    base,
    env: common,
    async serve(extra = {}) {
      const child = spawnWaybill(t, ['serve'], { ...common, ...extra })
      await untilHealthy(base, child)
      return child
    },
    async launch(extra = {}) {
      const child = spawnWaybill(t, ['serve'], { ...common, ...extra })
      let exited = false
      void child.exited.then(() => (exited = true))
      await untilHealthy(base, child).catch((error: unknown) => {
        if (!exited) throw error
      })
      return child
    },
    worker(extra = {}) {
      return spawnWaybill(t, ['worker'], { ...common, ...extra })
    },
    storage() {
      storage ??= openStorage({ databaseFile: join(dataDir, 'waybill.db'), databaseUrl: common.WAYBILL_DATABASE_URL, busyTimeoutMs: 1000, bootstrapToken: undefined })
      return storage
    },
  }
}
