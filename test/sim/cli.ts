import { availableParallelism } from 'node:os'
import cliProgress from 'cli-progress'
import { Command, InvalidArgumentError, Option } from 'commander'
import { seedPool } from './pool.js'
import { runSeed, type Control } from './run.js'
import { reportOf, Totals, type SeedReport } from './summary.js'

/**
 * `npm run sim -- --seeds 10000`: runs seeds of the deterministic simulation (test/sim/run.ts) and
 * reports seeds per second, every violation with the one-line command that replays it, and the
 * schedules covered.
 *
 *   npm run sim -- --seeds 10000 [--from 1] [--jobs 2]
 *   npm run sim -- --seed 4242 [--control saga]        one seed, with its story (what happened when)
 *   npm run sim -- --control fence|dedupe|saga         seeds from --from on until the first violation: N
 */
const integer = (name: string) => (value: string) => {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number`)
  return n
}

const program = new Command('sim')
  .description('Deterministic simulation of the whole pipeline: seeds of crash and fault schedules, each judged by the history checker and the cross-actor invariants')
  .option('--seeds <n>', 'how many seeds', integer('--seeds'), 100)
  .option('--from <seed>', 'the first seed', integer('--from'), 1)
  .option('--seed <seed>', 'replay one seed and tell its story', integer('--seed'))
  .addOption(new Option('--control <control>', 'a negative control: run until the simulator finds its violation').choices(['fence', 'dedupe', 'saga']))
  .option('--jobs <n>', 'worker threads', integer('--jobs'), Math.min(2, availableParallelism()))
  .option('--quiet', 'with --seed: the verdict only, not the story')
  .option('--points', 'list every fault point reached, with how often it was reached and crashed at')
  .parse()

const options = program.opts<{ seeds: number; from: number; seed?: number; control?: Control; jobs: number; quiet?: boolean; points?: boolean }>()

if (options.seed !== undefined) {
  const lines: string[] = []
  const result = await runSeed(options.seed, { ...(options.control ? { control: options.control } : {}), ...(options.quiet ? {} : { log: (line: string) => lines.push(line) }), signature: true })
  for (const line of lines) console.log(line)
  console.log(`\nseed ${result.seed}${options.control ? ` (control ${options.control})` : ''}: ${result.summary}; ${result.wallMs.toFixed(0)} ms`)
  console.log(`schedule ${result.trace}, result ${result.signature}`)
  console.log(`faults: ${JSON.stringify(result.coverage.faults)}`)
  if (result.ok) console.log('no violation')
  else {
    console.log(`${result.problems.length} problems — replay: npm run sim -- --seed ${result.seed}${options.control ? ` --control ${options.control}` : ''}`)
    for (const p of result.problems.slice(0, 40)) console.log(`  ${p}`)
  }
  for (const a of result.anomalies) console.log(`  logged: ${a}`)
  process.exitCode = result.ok ? 0 : 1
} else {
  await runMany()
}

async function runMany(): Promise<void> {
  const { seeds, from, control } = options
  const jobs = Math.max(1, Math.min(options.jobs, seeds))
  const totals = new Totals()
  const started = performance.now()
  const cpuStart = process.cpuUsage()
  const tty = process.stderr.isTTY
  const bar = tty
    ? new cliProgress.SingleBar(
        { format: `sim${control ? ` (control ${control})` : ''} [{bar}] {value}/{total} seeds | {rate} seeds/s | {violations} violations | {eta_formatted} left`, stream: process.stderr, hideCursor: true, etaBuffer: 200 },
        cliProgress.Presets.shades_classic,
      )
    : null
  bar?.start(seeds, 0, { rate: '0', violations: 0 })
  let lastLine = 0
  const progress = () => {
    const rate = (totals.seeds / ((performance.now() - started) / 1000)).toFixed(1)
    if (bar) bar.update(totals.seeds, { rate, violations: totals.violations.length })
    else if (performance.now() - lastLine > 5000 || totals.seeds === seeds) {
      lastLine = performance.now()
      process.stderr.write(`sim: ${totals.seeds}/${seeds} seeds, ${rate} seeds/s, ${totals.violations.length} violations\n`)
    }
  }

  // A control stops at its first violation: seeds are handed out in order, and the smallest failing one counts.
  let next = from
  let firstFailure = Infinity
  const failed = (r: SeedReport) => !r.ok
  const take = () => (next < from + seeds && next < firstFailure ? next++ : undefined)
  const record = (r: SeedReport) => {
    totals.add(r)
    if (control && failed(r)) firstFailure = Math.min(firstFailure, r.seed)
    progress()
  }

  if (jobs === 1) {
    for (let seed = take(); seed !== undefined; seed = take()) {
      const cpu = process.cpuUsage()
      const result = await runSeed(seed, control ? { control } : {})
      const used = process.cpuUsage(cpu)
      record(reportOf(result, (used.user + used.system) / 1000))
    }
  } else {
    const pool = seedPool(jobs)
    try {
      await Promise.all(
        Array.from({ length: jobs }, async () => {
          for (let seed = take(); seed !== undefined; seed = take()) record(await pool.run(seed, control))
        }),
      )
    } finally {
      await pool.close()
    }
  }
  bar?.stop()
  const cpu = process.cpuUsage(cpuStart)
  totals.cpuMs = (cpu.user + cpu.system) / 1000
  for (const line of totals.lines({ wallMs: performance.now() - started, ...(control ? { control } : {}) })) console.log(line)
  if (options.points) {
    console.log('Fault points (reached, crashed at):')
    for (const [point, n] of [...totals.reached].sort((a, b) => (a[0] < b[0] ? -1 : 1))) console.log(`  ${point.padEnd(44)} ${String(n).padStart(10)} ${String(totals.crashedAt.get(point) ?? 0).padStart(6)}`)
  }
  if (control) {
    if (firstFailure === Infinity) {
      console.log(`control ${control}: NOT FOUND in ${totals.seeds} seeds`)
      process.exitCode = 1
    } else {
      const found = totals.violations.find((v) => v.seed === firstFailure)!
      console.log(`control ${control}: found within N = ${firstFailure - from + 1} seeds (seed ${firstFailure}: ${Object.keys(found.kinds).join(', ')}) — replay: npm run sim -- --seed ${firstFailure} --control ${control}`)
    }
  } else if (totals.violations.length > 0) {
    process.exitCode = 1
  }
}
