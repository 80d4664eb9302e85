import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { spawnWaybill, untilHealthy } from '../helpers/process.js'
import { freePort, startRedis } from '../helpers/redis.js'
import { bootstrapToken, tempDir } from '../helpers/service.js'
import { load, paced, rssMiB, type LoadResult } from './load.js'
import { seedShipments } from './memory.js'
import { micro } from './micro.js'

/**
 * `npm run bench` — not a test (no pass/fail): prints tables in Markdown.
 *
 * 1. throughput: Waybill's HTTP path against a plain durable state-mutation server (the baseline, same
 *    HTTP shape), driven alternately by the same load in one run, so the ratio is measured under the
 *    same conditions;
 * 2. levers: Waybill again with one lever switched off at a time;
 * 3. latency: both at a fixed 500 commands/s;
 * 4. micro: machine step, decide+append, hydration, rebuild, verify (in process);
 * 5. memory (opt-in, BENCH_MEMORY_SHIPMENTS=1000000): RSS while random existing shipments are worked.
 *
 *   BENCH_SECONDS (10)  each measured run     BENCH_ROUNDS (2)  alternations in section 1
 *   BENCH_CONNECTIONS (64)                     BENCH_SECTIONS (throughput,levers,latency,micro)
 */
const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 64)
const sections = new Set((process.env.BENCH_SECTIONS ?? 'throughput,levers,latency,micro').split(','))
const memoryShipments = Number(process.env.BENCH_MEMORY_SHIPMENTS ?? 0)
if (memoryShipments > 0) sections.add('memory')

const cleanups: Array<() => unknown> = []
const scope = { teardown: (fn: () => unknown) => void cleanups.push(fn) }
const note = (line: string) => process.stderr.write(`${line}\n`)
const print = (lines: string[]) => process.stdout.write(`${lines.join('\n')}\n\n`)

interface Target {
  readonly name: string
  readonly url: string
  readonly pids: number[]
  stop(): Promise<void>
}

async function startWaybill(name: string, env: Record<string, string> = {}, dataDir?: string): Promise<Target & { pid: number }> {
  const redis = await startRedis(scope)
  const port = await freePort()
  const child = spawnWaybill(scope, ['serve'], {
    REDIS_URL: redis.url,
    WAYBILL_DATA_DIR: dataDir ?? tempDir(scope, 'waybill-bench-'),
    PORT: String(port),
    WAYBILL_BOOTSTRAP_TOKEN: bootstrapToken,
    WAYBILL_RATE_LIMIT: '0',
    WAYBILL_EMBEDDED_REDIS: 'never',
    WAYBILL_LOG_LEVEL: 'warn',
    ...env,
  })
  const url = `http://127.0.0.1:${port}`
  await untilHealthy(url, child)
  return { name, url, pid: child.pid, pids: [child.pid, redis.pid!], stop: async () => void (await child.stop(), await redis.kill()) }
}

async function startBaseline(): Promise<Target> {
  const port = await freePort()
  const script = fileURLToPath(new URL('./baseline-server.js', import.meta.url))
  const child = spawnWaybill(scope, [], { WAYBILL_DATA_DIR: tempDir(scope, 'waybill-baseline-'), PORT: String(port), WAYBILL_BOOTSTRAP_TOKEN: bootstrapToken }, script)
  await child.waitFor(/baseline serving/)
  return { name: 'state-mutation baseline', url: `http://127.0.0.1:${port}`, pids: [child.pid], stop: async () => void (await child.stop()) }
}

const header = [
  '| target | cmds/s | p50 ms | p99 ms | CPU ms/cmd | errors | vs baseline |',
  '|---|---:|---:|---:|---:|---:|---:|',
]

function row(name: string, r: LoadResult, baseline?: LoadResult): string {
  const ratio = baseline ? `${(r.rps / baseline.rps).toFixed(2)}×` : '1.00×'
  return `| ${name} | ${Math.round(r.rps)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.cpuMsPerCommand.toFixed(3)} | ${r.non2xx + r.errors} | ${ratio} |`
}

function mean(results: LoadResult[]): LoadResult {
  const avg = (f: (r: LoadResult) => number) => results.reduce((s, r) => s + f(r), 0) / results.length
  return {
    requests: avg((r) => r.requests), rps: avg((r) => r.rps), p50: avg((r) => r.p50), p99: avg((r) => r.p99),
    non2xx: avg((r) => r.non2xx), errors: avg((r) => r.errors), cpuMsPerCommand: avg((r) => r.cpuMsPerCommand),
  }
}

const measure = (target: Target) => load({ url: target.url, token: bootstrapToken, seconds, connections, pids: target.pids })

async function main() {
  print([`# Waybill benchmark — ${new Date().toISOString()}, node ${process.version}, ${(await import('node:os')).cpus().length} cores`])
  const baseline = await startBaseline()
  const waybill = await startWaybill('waybill (all levers)')
  note('warming up')
  for (const target of [baseline, waybill]) await load({ url: target.url, token: bootstrapToken, seconds: 3, connections, pids: [] })
  let base: LoadResult | undefined

  if (sections.has('throughput')) {
    const results = new Map<Target, LoadResult[]>([[baseline, []], [waybill, []]])
    for (let round = 1; round <= rounds; round++) {
      for (const target of [baseline, waybill]) {
        note(`throughput round ${round}/${rounds}: ${target.name}`)
        results.get(target)!.push(await measure(target))
        await sleep(500)
      }
    }
    base = mean(results.get(baseline)!)
    print([
      `## Throughput: request-reply, ${connections} connections, each walking its own shipments REGISTER → ASSIGN → SHIP → DELIVER, synchronous=FULL (mean of ${rounds} alternating runs of ${seconds} s)`,
      '', ...header, row(baseline.name, base), row(waybill.name, mean(results.get(waybill)!), base),
    ])
  }

  if (sections.has('levers')) {
    base ??= await measure(baseline)
    const variants: Array<[string, Record<string, string>]> = [
      ['without group commit (WAYBILL_BATCH_MAX=1)', { WAYBILL_BATCH_MAX: '1' }],
      ['without linger (WAYBILL_BATCH_LINGER_MS=0)', { WAYBILL_BATCH_LINGER_MS: '0' }],
      ['without wake coalescing (WAYBILL_WAKE_COALESCE=false)', { WAYBILL_WAKE_COALESCE: 'false' }],
      ['without actor cache (WAYBILL_ACTOR_CACHE=0)', { WAYBILL_ACTOR_CACHE: '0' }],
    ]
    const lines = ['## Levers: one switched off at a time (same load)', '', ...header, row(waybill.name, await measure(waybill), base)]
    for (const [name, env] of variants) {
      note(`lever: ${name}`)
      const variant = await startWaybill(name, env)
      await load({ url: variant.url, token: bootstrapToken, seconds: 2, connections, pids: [] })
      lines.push(row(name, await measure(variant), base))
      await variant.stop()
    }
    print(lines)
  }

  if (sections.has('latency')) {
    note('latency at 500 commands/s')
    const lines = ['## Latency at a fixed 500 commands/s (open loop: one request every 2 ms, keep-alive pool)', '', ...header]
    const at500 = (target: Target) => paced({ url: target.url, token: bootstrapToken, seconds, rate: 500, pids: target.pids })
    const b = await at500(baseline)
    lines.push(row(baseline.name, b), row(waybill.name, await at500(waybill), b))
    print(lines)
  }
  await waybill.stop()
  await baseline.stop()

  if (sections.has('micro')) {
    note('micro-benchmarks')
    print(['## In process (no HTTP, no Redis), real SQLite file, synchronous=FULL', '', ...(await micro(tempDir(scope, 'waybill-micro-')))])
  }

  if (sections.has('memory')) {
    const dir = tempDir(scope, 'waybill-memory-')
    note(`seeding ${memoryShipments.toLocaleString('en')} shipments`)
    const seeded = await seedShipments(dir, memoryShipments, (n) => note(`  ${n.toLocaleString('en')}`))
    const target = await startWaybill('waybill', {}, dir)
    const before = rssMiB(target.pid)
    let peak = before
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(target.pid))), 250)
    note('working random existing shipments')
    const result = await load({ url: target.url, token: bootstrapToken, seconds: Math.max(seconds, 20), connections, pids: target.pids, existing: memoryShipments })
    clearInterval(sampler)
    const after = rssMiB(target.pid)
    await target.stop()
    print([
      `## Memory with ${memoryShipments.toLocaleString('en')} shipments in the database (actor cache limit 10,000)`, '',
      '| measurement | value |', '|---|---:|',
      `| seeding (in process, group-committed REGISTERs) | ${Math.round(seeded).toLocaleString('en')} commands/s |`,
      `| random ASSIGN/UNASSIGN over all shipments | ${Math.round(result.rps)} cmds/s, p99 ${result.p99} ms, ${result.non2xx} refused by the rules (two connections picked the same shipment), ${result.errors} errors |`,
      `| RSS after start → peak → end | ${before.toFixed(0)} → ${peak.toFixed(0)} → ${after.toFixed(0)} MiB |`,
    ])
  }
}

try {
  await main()
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup()
}
