import { serviceNodeOptions } from '../../src/package-info.js'
import { spawnWaybill, untilHealthy } from '../helpers/process.js'
import { freePort, startRedis } from '../helpers/redis.js'
import { bootstrapToken, tempDir } from '../helpers/service.js'
import { load, type LoadResult } from './load.js'

/**
 * A Waybill installation for a benchmark: `processes` × `waybill serve` on one database (the embedded
 * SQLite file, or `databaseUrl`) and one Redis of its own, with npm start's node options (and `nodeArgs`);
 * and the load of `load.ts` spread over them.
 */
export interface Installation {
  readonly name: string
  readonly urls: string[]
  readonly pids: number[]
  stop(): Promise<void>
}

export type Scope = { teardown(fn: () => unknown): void }

export async function installation(
  scope: Scope, name: string, processes: number, databaseUrl?: string, env: Record<string, string> = {}, nodeArgs: readonly string[] = [],
): Promise<Installation> {
  const redis = await startRedis(scope)
  const dataDir = tempDir(scope, 'waybill-bench-pg-')
  const children: Array<{ child: ReturnType<typeof spawnWaybill>; url: string }> = []
  for (let i = 0; i < processes; i++) {
    const port = await freePort()
    const child = spawnWaybill(scope, ['serve'], {
      REDIS_URL: redis.url, WAYBILL_DATA_DIR: dataDir, PORT: String(port), WAYBILL_BOOTSTRAP_TOKEN: bootstrapToken,
      WAYBILL_RATE_LIMIT: '0', WAYBILL_EMBEDDED_REDIS: 'never', WAYBILL_LOG_LEVEL: 'info', WAYBILL_MAX_EVENT_LOOP_DELAY_MS: '',
      ...(databaseUrl ? { WAYBILL_DATABASE_URL: databaseUrl } : {}),
      ...env,
    }, undefined, [...serviceNodeOptions, ...nodeArgs])
    await untilHealthy(`http://127.0.0.1:${port}`, child)
    children.push({ child, url: `http://127.0.0.1:${port}` })
  }
  return {
    name,
    urls: children.map((c) => c.url),
    pids: [...children.map((c) => c.child.pid), redis.pid!],
    stop: async () => {
      for (const { child } of children) await child.stop()
      await redis.kill()
    },
  }
}

/** The load split evenly over the installation's processes, summed. */
export async function measure(target: Installation, seconds: number, connections: number): Promise<LoadResult> {
  const share = Math.max(1, Math.floor(connections / target.urls.length))
  const results = await Promise.all(target.urls.map((url, i) => load({ url, token: bootstrapToken, seconds, connections: share, pids: i === 0 ? target.pids : [] })))
  const requests = results.reduce((n, r) => n + r.requests, 0)
  const weighted = (f: (r: LoadResult) => number) => results.reduce((sum, r) => sum + f(r) * r.requests, 0) / Math.max(1, requests)
  return {
    requests,
    rps: requests / seconds,
    p50: weighted((r) => r.p50),
    p99: Math.max(...results.map((r) => r.p99)),
    non2xx: results.reduce((n, r) => n + r.non2xx, 0),
    errors: results.reduce((n, r) => n + r.errors, 0),
    cpuMsPerCommand: (results[0]!.cpuMsPerCommand * results[0]!.requests) / Math.max(1, requests),
  }
}
