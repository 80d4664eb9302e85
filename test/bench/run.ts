import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { spawnWaybill, type WaybillProcess } from '../helpers/process.js'
import { freePort, startRedis } from '../helpers/redis.js'
import { bootstrapToken, tempDir } from '../helpers/service.js'
import { load, type LoadResult } from './load.js'

/**
 * `npm run bench`: the HTTP path of Waybill against a plain durable state-mutation server (the
 * baseline), both on this machine, driven alternately by the same load in one run, so the ratio is
 * measured under the same conditions. Prints a table; not a test (no pass/fail).
 *
 *   BENCH_SECONDS (10)  duration of each measured run
 *   BENCH_ROUNDS  (2)   alternations baseline ↔ waybill
 *   BENCH_CONNECTIONS (64)
 */
const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 64)

const cleanups: Array<() => unknown> = []
const scope = { teardown: (fn: () => unknown) => void cleanups.push(fn) }

interface Target {
  readonly name: string
  readonly url: string
  readonly pids: number[]
}

async function startWaybill(extraEnv: Record<string, string> = {}): Promise<Target & { process: WaybillProcess }> {
  const redis = await startRedis(scope)
  const port = await freePort()
  const child = spawnWaybill(scope, ['serve'], {
    REDIS_URL: redis.url,
    WAYBILL_DATA_DIR: tempDir(scope, 'waybill-bench-'),
    PORT: String(port),
    WAYBILL_BOOTSTRAP_TOKEN: bootstrapToken,
    WAYBILL_RATE_LIMIT: '0',
    WAYBILL_EMBEDDED_REDIS: 'never',
    WAYBILL_LOG_LEVEL: 'warn',
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('WAYBILL_')) as [string, string][]),
    ...extraEnv,
  })
  await untilHealthy(`http://127.0.0.1:${port}`, child)
  return { name: 'waybill', url: `http://127.0.0.1:${port}`, pids: [child.pid, redis.pid!], process: child }
}

async function startBaseline(): Promise<Target> {
  const port = await freePort()
  const child = spawnWaybill(scope, [], {
    WAYBILL_DATA_DIR: tempDir(scope, 'waybill-baseline-'),
    PORT: String(port),
    WAYBILL_BOOTSTRAP_TOKEN: bootstrapToken,
  }, fileURLToPath(new URL('./baseline-server.js', import.meta.url)))
  await child.waitFor(/baseline serving/)
  return { name: 'state-mutation baseline', url: `http://127.0.0.1:${port}`, pids: [child.pid] }
}

async function untilHealthy(url: string, child: WaybillProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false)
    if (ok) return
    await sleep(100)
  }
  throw new Error(`${url} did not become healthy:\n${child.lines.slice(-10).join('\n')}`)
}

function row(name: string, r: LoadResult, baseline?: LoadResult): string {
  const ratio = baseline ? (r.rps / baseline.rps).toFixed(2) + '×' : '1.00×'
  return `| ${name.padEnd(30)} | ${r.rps.toFixed(0).padStart(8)} | ${r.p50.toFixed(1).padStart(6)} | ${r.p99.toFixed(1).padStart(6)} | ${r.cpuMsPerCommand.toFixed(3).padStart(8)} | ${String(r.non2xx + r.errors).padStart(6)} | ${ratio.padStart(7)} |`
}

function mean(results: LoadResult[]): LoadResult {
  const avg = (f: (r: LoadResult) => number) => results.reduce((s, r) => s + f(r), 0) / results.length
  return {
    requests: avg((r) => r.requests), rps: avg((r) => r.rps), p50: avg((r) => r.p50), p99: avg((r) => r.p99),
    non2xx: avg((r) => r.non2xx), errors: avg((r) => r.errors), cpuMsPerCommand: avg((r) => r.cpuMsPerCommand),
  }
}

async function main() {
  const baseline = await startBaseline()
  const waybill = await startWaybill()
  const targets = [baseline, waybill]
  process.stderr.write(`warming up (${targets.map((t) => t.name).join(', ')})\n`)
  for (const target of targets) await load({ url: target.url, token: bootstrapToken, seconds: 3, connections, pids: [] })
  const results = new Map<string, LoadResult[]>(targets.map((t) => [t.name, []]))
  for (let round = 1; round <= rounds; round++) {
    for (const target of targets) {
      process.stderr.write(`round ${round}/${rounds}: ${target.name}, ${connections} connections, ${seconds}s\n`)
      results.get(target.name)!.push(await load({ url: target.url, token: bootstrapToken, seconds, connections, pids: target.pids }))
      await sleep(500)
    }
  }
  const base = mean(results.get(baseline.name)!)
  const lines = [
    `Request-reply, ${connections} connections, each walking its own shipments REGISTER → ASSIGN → SHIP → DELIVER; synchronous=FULL; mean of ${rounds} alternating runs of ${seconds}s.`,
    '',
    '| target                         |   cmds/s | p50 ms | p99 ms | CPU ms/cmd | errors |   ratio |',
    '|--------------------------------|---------:|-------:|-------:|-----------:|-------:|--------:|',
    row(baseline.name, base),
    row('waybill', mean(results.get(waybill.name)!), base),
  ]
  process.stdout.write(lines.join('\n') + '\n')
}

try {
  await main()
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup()
}
