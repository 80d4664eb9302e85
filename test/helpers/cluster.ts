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
  worker(extra?: Record<string, string>): WaybillProcess
  /** A read connection to the database (closed at teardown). */
  storage(): Storage
}

export async function startCluster(t: { teardown(fn: () => unknown): void }, env: Record<string, string> = {}): Promise<Cluster> {
  const redis = await startRedis(t)
  const dataDir = tempDir(t)
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const common = {
    REDIS_URL: redis.url,
    WAYBILL_DATA_DIR: dataDir,
    PORT: String(port),
    WAYBILL_BOOTSTRAP_TOKEN: bootstrapToken,
    WAYBILL_RATE_LIMIT: '0',
    WAYBILL_EMBEDDED_REDIS: 'never',
    WAYBILL_STALL_INTERVAL_MS: '2000',
    WAYBILL_SWEEP_INTERVAL_MS: '200',
    WAYBILL_REPLY_TIMEOUT_MS: '1000',
    ...env,
  }
  let storage: Storage | null = null
  t.teardown(() => storage?.close())
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
    worker(extra = {}) {
      return spawnWaybill(t, ['worker'], { ...common, ...extra })
    },
    storage() {
      storage ??= openStorage({ databaseFile: join(dataDir, 'waybill.db'), busyTimeoutMs: 1000, bootstrapToken: undefined })
      return storage
    },
  }
}
