import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { serviceNodeOptions } from '../../src/package-info.js'
import { spawnWaybill, untilHealthy } from '../helpers/process.js'
import { freePort, startRedis } from '../helpers/redis.js'
import { bootstrapToken, tempDir } from '../helpers/service.js'
import { batchLoad, load, paced, rssMiB, type LoadResult } from './load.js'
import { seedShipments } from './memory.js'
import { departureBench } from './departure.js'
import { DecisionCeiling, micro } from './micro.js'
import { postgresBench } from './postgres.js'
import { reviewBench } from './review.js'
import { createDatabase } from '../helpers/postgres.js'
import { installation, measure as measureInstallation } from './installation.js'
import { monotonicUs, profileIn, profileLines, profileTop } from './profile.js'

/**
 * `npm run bench` — not a test (no pass/fail): prints tables in Markdown.
 *
 * 1. throughput: Waybill's HTTP path against a plain durable state-mutation server (the baseline, same
 *    HTTP shape), driven alternately by the same load in one run, so the ratio is measured under the
 *    same conditions;
 * 2. levers: Waybill again with one lever switched off at a time;
 * 3. latency: both at a fixed 500 commands/s;
 * 3b. batches: offline uploads (1000-item batches) against single commands, alternately, same target,
 *    and the decision path alone at 1000 commands per cycle;
 * 3c. departure: a 500-shipment truck departs while other scanners work (departure.ts);
 * 3d. postgres: SQLite against PostgreSQL installations of 1, 2 and 3 processes and both baselines, alternately (postgres.ts);
 * 4. micro: machine step, decide+append, hydration, rebuild, verify (in process);
 * 5. memory (opt-in, BENCH_MEMORY_SHIPMENTS=1000000): RSS while random existing shipments are worked.
 * 6. review (opt-in, BENCH_REVIEW_COMMANDS=1000000, BENCH_REVIEW_DATA_DIR to keep the seeded database):
 *    the process map with a year of history — each route's server time, and the time to first render
 *    of the overview and of every drill-down in Chromium (review.ts).
 * 7. profile (opt-in, BENCH_SECTIONS=profile): `serve` under the throughput load with `--cpu-prof`,
 *    SQLite and PostgreSQL, the top 10 functions by self time (profile.ts).
 *
 *   BENCH_SECONDS (10)  each measured run     BENCH_ROUNDS (3)  alternations (medians)
 *   BENCH_CONNECTIONS (64)                     BENCH_SECTIONS (throughput,levers,latency,batches,departure,postgres,micro)
 */
const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 64)
const sections = new Set((process.env.BENCH_SECTIONS ?? 'throughput,levers,latency,batches,departure,postgres,micro').split(','))
const memoryShipments = Number(process.env.BENCH_MEMORY_SHIPMENTS ?? 0)
if (memoryShipments > 0) sections.add('memory')
const reviewCommands = Number(process.env.BENCH_REVIEW_COMMANDS ?? (sections.has('review') ? 1_000_000 : 0))
if (reviewCommands > 0) sections.add('review')

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

/** `nodeOptions`: node's own options; by default npm start's (package.json). */
async function startWaybill(name: string, env: Record<string, string> = {}, dataDir?: string, nodeOptions: readonly string[] = serviceNodeOptions): Promise<Target & { pid: number }> {
  const redis = await startRedis(scope)
  const port = await freePort()
  const child = spawnWaybill(scope, ['serve'], {
    REDIS_URL: redis.url,
    WAYBILL_DATA_DIR: dataDir ?? tempDir(scope, 'waybill-bench-'),
    PORT: String(port),
    WAYBILL_BOOTSTRAP_TOKEN: bootstrapToken,
    WAYBILL_RATE_LIMIT: '0',
    WAYBILL_EMBEDDED_REDIS: 'never',
    // The README's defaults, as `npm start` runs: info logging to stdout (a pipe here), load shedding on.
    WAYBILL_LOG_LEVEL: 'info',
    WAYBILL_MAX_EVENT_LOOP_DELAY_MS: '',
    ...env,
  }, undefined, nodeOptions)
  const url = `http://127.0.0.1:${port}`
  await untilHealthy(url, child)
  return { name, url, pid: child.pid, pids: [child.pid, redis.pid!], stop: async () => void (await child.stop(), await redis.kill()) }
}

/** The baselines' storage: durable SQLite, non-durable SQLite, or rows in memory (the HTTP route alone). */
type BaselineKind = 'durable' | 'non-durable' | 'memory'

const baselineNames: Record<BaselineKind, string> = {
  'durable': 'state-mutation baseline, durable (synchronous=FULL)',
  'non-durable': 'state-mutation baseline, non-durable (synchronous=NORMAL)',
  'memory': 'the same HTTP route alone (rows in memory, nothing stored)',
}

async function startBaseline(kind: BaselineKind = 'durable'): Promise<Target> {
  const port = await freePort()
  const script = fileURLToPath(new URL('./baseline-server.js', import.meta.url))
  const storage: Record<string, string> = { 'durable': {}, 'non-durable': { BASELINE_SYNCHRONOUS: 'NORMAL' }, 'memory': { BASELINE_STORAGE: 'memory' } }[kind]
  // With npm start's node options too: every target gets the same node.
  const child = spawnWaybill(scope, [], { WAYBILL_DATA_DIR: tempDir(scope, 'waybill-baseline-'), PORT: String(port), WAYBILL_BOOTSTRAP_TOKEN: bootstrapToken, ...storage }, script, serviceNodeOptions)
  await child.waitFor(/baseline serving/)
  return { name: baselineNames[kind], url: `http://127.0.0.1:${port}`, pids: [child.pid], stop: async () => void (await child.stop()) }
}

/** The fields of a load result that an in-process run has none of (no requests sent, no latencies). */
const noLoad: LoadResult = { requests: 0, rps: 0, p50: 0, p99: 0, non2xx: 0, errors: 0, cpuMsPerCommand: 0 }

const header = [
  '| target | cmds/s | p50 ms | p99 ms | CPU ms/cmd | errors | vs baseline |',
  '|---|---:|---:|---:|---:|---:|---:|',
]

function row(name: string, r: LoadResult, baseline?: LoadResult): string {
  const ratio = baseline ? `${(r.rps / baseline.rps).toFixed(2)}×` : '1.00×'
  return `| ${name} | ${Math.round(r.rps)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.cpuMsPerCommand.toFixed(3)} | ${r.non2xx + r.errors} | ${ratio} |`
}

/** Each measure's median over the runs (a slow outlier run moves a mean, not a median). */
function median(results: LoadResult[]): LoadResult {
  const mid = <T>(values: T[], f: (v: T) => number) => values.map(f).sort((a, b) => a - b)[Math.floor(values.length / 2)]!
  return {
    requests: mid(results, (r) => r.requests), rps: mid(results, (r) => r.rps), p50: mid(results, (r) => r.p50), p99: mid(results, (r) => r.p99),
    non2xx: mid(results, (r) => r.non2xx), errors: mid(results, (r) => r.errors), cpuMsPerCommand: mid(results, (r) => r.cpuMsPerCommand),
  }
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
  if (['throughput', 'levers', 'latency', 'batches'].some((s) => sections.has(s))) await loadSections()
  await inProcessSections()
}

async function loadSections() {
  const baseline = await startBaseline()
  const fast = await startBaseline('non-durable')
  // The headline: the service exactly as `npm start` runs it (the default `info` logging to stdout, a pipe).
  const waybill = await startWaybill('waybill, as `npm start` runs it (info logging)')
  // The decision path alone, in this process, between the targets of a round: how much of the
  // event loop's budget the writes every command makes leave for everything else (micro.ts).
  const ceiling = await DecisionCeiling.open(tempDir(scope, 'waybill-ceiling-'))
  const ceilingRow = (name: string, r: { rps: number; cpuMsPerCommand: number }, versus: LoadResult) =>
    `| ${name} | ${Math.round(r.rps)} | – | – | ${r.cpuMsPerCommand.toFixed(3)} | 0 | ${(r.rps / versus.rps).toFixed(2)}× |`
  note('warming up')
  for (const target of [baseline, fast, waybill]) await load({ url: target.url, token: bootstrapToken, seconds: 3, connections, pids: [] })
  await ceiling.run(connections, { seconds: 3 })
  let base: LoadResult | undefined

  if (sections.has('throughput')) {
    const route = await startBaseline('memory')
    await load({ url: route.url, token: bootstrapToken, seconds: 3, connections, pids: [] })
    const results = new Map<Target, LoadResult[]>([[baseline, []], [fast, []], [route, []], [waybill, []]])
    const alone: LoadResult[] = []
    for (let round = 1; round <= rounds; round++) {
      for (const target of [baseline, fast, route, waybill]) {
        note(`throughput round ${round}/${rounds}: ${target.name}`)
        results.get(target)!.push(await measure(target))
        await sleep(500)
      }
      note(`throughput round ${round}/${rounds}: the decision path alone, in process`)
      alone.push({ ...noLoad, ...(await ceiling.run(connections, { seconds })) })
      await sleep(500)
    }
    base = median(results.get(baseline)!)
    const nonDurable = median(results.get(fast)!)
    const w = median(results.get(waybill)!)
    const r = median(results.get(route)!)
    const a = median(alone)
    await route.stop()
    // One event loop does both for every command: the sum of their times per command estimates the
    // least a command can take there (a floor on its time is a ceiling on throughput). The route's own
    // rate is bounded by the load generator sharing the machine, so its cost is its CPU per request.
    const decisionUs = 1e6 / a.rps
    const routeUs = r.cpuMsPerCommand * 1000
    const floorUs = decisionUs + routeUs
    print([
      `## Throughput: request-reply, ${connections} connections, each walking its own shipments REGISTER → ASSIGN → SHIP → DELIVER (median of ${rounds} alternating runs of ${seconds} s)`,
      '', ...header, row(baseline.name, base), row(fast.name, nonDurable, base), row(route.name, r, base), row(waybill.name, w, base),
      ceilingRow(`the decision path alone, in process (no HTTP, auth, logging or Redis; ${connections} commands per cycle)`, a, base),
      '', `Waybill ÷ non-durable baseline: ${(w.rps / nonDurable.rps).toFixed(2)}×; Waybill ÷ its decision path alone: ${(w.rps / a.rps).toFixed(2)}×`,
      '', `One event loop's floor: the decision path alone (${decisionUs.toFixed(0)} µs per command) + the HTTP route alone (${routeUs.toFixed(0)} µs of CPU per request; its rate is the load generator's) = ${floorUs.toFixed(0)} µs, at most ${Math.round(1e6 / floorUs)} cmds/s: ${(1e6 / floorUs / base.rps).toFixed(2)}× the durable baseline, ${(1e6 / floorUs / nonDurable.rps).toFixed(2)}× the non-durable one. Waybill: ${(1e6 / w.rps).toFixed(0)} µs per command.`,
    ])
  }

  if (sections.has('levers')) {
    base ??= await measure(baseline)
    const variants: Array<[string, Record<string, string>, (readonly string[])?]> = [
      ["node's default semi-spaces (without npm start's --max-semi-space-size=64)", {}, serviceNodeOptions.filter((o) => !o.startsWith('--max-semi-space-size'))],
      ['logging at warn (WAYBILL_LOG_LEVEL=warn)', { WAYBILL_LOG_LEVEL: 'warn' }],
      ['without group commit (WAYBILL_BATCH_MAX=1)', { WAYBILL_BATCH_MAX: '1' }],
      ['without wake coalescing (WAYBILL_WAKE_COALESCE=false)', { WAYBILL_WAKE_COALESCE: 'false' }],
      ['without actor cache (WAYBILL_ACTOR_CACHE=0)', { WAYBILL_ACTOR_CACHE: '0' }],
    ]
    const lines = ['## Levers: one switched off at a time (same load)', '', ...header, row(waybill.name, await measure(waybill), base)]
    for (const [name, env, nodeOptions] of variants) {
      note(`lever: ${name}`)
      const variant = await startWaybill(name, env, undefined, nodeOptions)
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
  if (sections.has('batches')) {
    const single: LoadResult[] = []
    const batched: Array<LoadResult & { batches: number; refused: number }> = []
    const decided: LoadResult[] = []
    const batches = (n: number) => batchLoad({ url: waybill.url, token: bootstrapToken, seconds, connections: n, items: 1000, pids: waybill.pids })
    for (let round = 1; round <= rounds; round++) {
      note(`batches round ${round}/${rounds}: single commands, then 1000-item batches`)
      single.push(await measure(waybill))
      await sleep(500)
      batched.push(await batches(connections))
      await sleep(500)
      decided.push({ ...noLoad, ...(await ceiling.run(1000, { seconds })) })
      await sleep(500)
    }
    note('one 1000-item batch at a time')
    const alone = await batches(1)
    const s = mean(single)
    const b = mean(batched)
    const d = mean(decided)
    const p99 = (xs: LoadResult[]) => Math.max(...xs.map((x) => x.p99))
    print([
      `## Offline batches: items/s through 1000-item batches vs single commands, ${connections} connections, same target (mean of ${rounds} alternating runs of ${seconds} s)`, '',
      '| load | items/s | p50 ms | p99 ms | CPU ms/item | not 2xx or errors | vs single |', '|---|---:|---:|---:|---:|---:|---:|',
      `| single commands (request-reply) | ${Math.round(s.rps)} | ${s.p50.toFixed(1)} | ${s.p99.toFixed(1)} | ${s.cpuMsPerCommand.toFixed(3)} | ${s.non2xx + s.errors} | 1.00× |`,
      `| 1000-item batches (latency per batch from its first send; ${batched.reduce((n, x) => n + x.batches, 0)} batches, ${batched.reduce((n, x) => n + x.refused, 0)} sends refused 503 and sent again after Retry-After) | ${Math.round(b.rps)} | ${b.p50.toFixed(0)} | ${b.p99.toFixed(0)} (worst run ${p99(batched).toFixed(0)}) | ${b.cpuMsPerCommand.toFixed(3)} | ${b.non2xx + b.errors} | ${(b.rps / s.rps).toFixed(2)}× |`,
      `| one 1000-item batch at a time (1 connection) | ${Math.round(alone.rps)} | ${alone.p50.toFixed(0)} | ${alone.p99.toFixed(0)} | ${alone.cpuMsPerCommand.toFixed(3)} | ${alone.non2xx + alone.errors} | ${(alone.rps / s.rps).toFixed(2)}× |`,
      ceilingRow('the decision path alone, in process (no HTTP, auth, logging or Redis; 1000 commands per cycle)', d, s),
    ])
  }
  await waybill.stop()
  await baseline.stop()
  await fast.stop()
  await ceiling.close()
}

/**
 * Where a process's CPU goes under the throughput load: `serve` with `--cpu-prof` (the profile is
 * written when it stops), on SQLite and on PostgreSQL, the top 10 functions by self time.
 */
async function profileSection() {
  const lines = [`## CPU profile under the throughput load (${connections} connections, ${seconds} s, info logging): top 10 by self time`, '']
  for (const [name, databaseUrl] of [['SQLite (embedded default)', undefined], ['PostgreSQL, 1 process', await createDatabase(scope)]] as const) {
    note(`profiling ${name}`)
    const dir = tempDir(scope, 'waybill-profile-')
    const target = await installation(scope, name, 1, databaseUrl, {}, ['--cpu-prof', `--cpu-prof-dir=${dir}`])
    await measureInstallation(target, 3, connections)
    const fromUs = monotonicUs()
    const result = await measureInstallation(target, seconds, connections)
    const toUs = monotonicUs()
    await target.stop()
    lines.push(...profileLines(`${name}: ${Math.round(result.rps)} commands/s while profiled`, profileTop(profileIn(dir), { fromUs, toUs })), '')
  }
  // Offline batches: one 1000-item batch after another (where an item's time goes without HTTP per item).
  note('profiling 1000-item batches')
  const dir = tempDir(scope, 'waybill-profile-')
  const target = await installation(scope, 'batches', 1, undefined, {}, ['--cpu-prof', `--cpu-prof-dir=${dir}`])
  const batches = () => batchLoad({ url: target.urls[0]!, token: bootstrapToken, seconds, connections: 1, items: 1000, pids: target.pids })
  await batches()
  const fromUs = monotonicUs()
  const result = await batches()
  const toUs = monotonicUs()
  await target.stop()
  lines.push(...profileLines(`SQLite, 1000-item batches one at a time: ${Math.round(result.rps)} items/s while profiled`, profileTop(profileIn(dir), { fromUs, toUs }, 25)), '')
  print(lines)
}

async function inProcessSections() {
  if (sections.has('profile')) await profileSection()
  if (sections.has('departure')) print(await departureBench({ seconds, rounds, connections, scope, note }))
  if (sections.has('postgres')) {
    // The two baselines alternate with the installations: PostgreSQL's ratios to them share the run's conditions.
    const baselines = async () => (await Promise.all([startBaseline(), startBaseline('non-durable')])).map((b) => ({ name: b.name, urls: [b.url], pids: b.pids, stop: b.stop }))
    print(await postgresBench({ seconds, rounds, connections, scope, note, baselines }))
  }
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

  if (sections.has('review')) {
    note(`process map with ${reviewCommands.toLocaleString('en')} commands`)
    print(
      await reviewBench({
        commands: reviewCommands,
        ...(process.env.BENCH_REVIEW_DATA_DIR ? { dataDir: process.env.BENCH_REVIEW_DATA_DIR } : {}),
        scope,
        note,
        serve: async (dataDir) => {
          const target = await startWaybill('waybill', {}, dataDir)
          return { url: target.url, stop: () => target.stop() }
        },
      }),
    )
  }
}

try {
  await main()
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup()
}
