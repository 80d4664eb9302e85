import { availableParallelism } from 'node:os'
import t from 'tap'
import { seedPool } from './pool.js'
import { runSeed, type Control } from './run.js'
import { Totals, type SeedReport } from './summary.js'

// The deterministic simulation (docs/design.md, *Deterministic simulation*): a few hundred seeds of
// the whole pipeline under crashes and faults, each judged by the history checker and the
// cross-actor invariants; the same seed twice gives the same schedule and result; and the negative
// controls — the fence off, the deduplication off, a saga step made non-idempotent — are each found
// within a bounded number of seeds. A failing seed prints the command that replays it. Seeds run on
// worker threads, one per core (two at most); the determinism check runs here, under tap's loader.
const seeds = Number(process.env.WAYBILL_SIM_SEEDS ?? 200)
const pool = seedPool(Math.min(2, availableParallelism()))
t.teardown(() => pool.close())

t.test(`${seeds} seeds of crash and fault schedules: no violation`, async (t) => {
  const totals = new Totals()
  const started = performance.now()
  const cpu = process.cpuUsage()
  const reports = await Promise.all(Array.from({ length: seeds }, (_, i) => pool.run(i + 1)))
  for (const report of reports) totals.add(report)
  const used = process.cpuUsage(cpu) // every thread's
  totals.cpuMs = (used.user + used.system) / 1000
  for (const line of totals.lines({ wallMs: performance.now() - started })) t.comment(line)
  t.same(
    totals.violations.map((v) => `seed ${v.seed}: ${v.problems.slice(0, 3).join(' | ')} — replay: npm run sim -- --seed ${v.seed}`),
    [],
    'no violation',
  )
  t.ok(totals.reached.size >= 60, `${totals.reached.size} distinct fault points reached`)
  t.ok(totals.crashedAt.size >= 25, `crashes injected at ${totals.crashedAt.size} distinct points`)
  for (const kind of ['crash', 'pause', 'redis-flush', 'redis-down', 'clock-step-back', 'wake-lost', 'wake-duplicated', 'db-locked', 'stall-redelivery']) {
    t.ok((totals.faults.get(kind) ?? 0) > 0, `fault injected: ${kind}`)
  }
  t.ok((totals.seen.get('late scans in batches') ?? 0) > 0, 'offline batches with late scans')
  t.ok([...totals.seen.keys()].filter((k) => k.startsWith('ASSIGN taken in')).length >= 4, 'ASSIGN and DEPART in several orders')
})

t.test('deterministic: a seed replays its schedule and its result', async (t) => {
  for (const seed of [3, 41]) {
    const [a, b] = [await runSeed(seed, { signature: true }), await runSeed(seed, { signature: true })]
    t.equal(b.trace, a.trace, `seed ${seed}: the same schedule (${a.trace})`)
    t.equal(b.signature, a.signature, `seed ${seed}: the same result (${a.signature})`)
    t.same(b.problems.map((p) => p.split(' ')[0]), a.problems.map((p) => p.split(' ')[0]), `seed ${seed}: the same verdict`)
  }
})

/** Each negative control must be found within its bound, by the kind of problem it causes. */
const controls: Array<{ control: Control; within: number; kinds: readonly string[] }> = [
  { control: 'dedupe', within: 5, kinds: ['DUPLICATE', 'ORPHAN'] },
  { control: 'saga', within: 60, kinds: ['SAGA'] },
  { control: 'fence', within: 30, kinds: ['OUTCOME', 'EVENT', 'ANSWER', 'SAGA', 'SEQ', 'I2', 'I5', 'T1', 'T2', 'T3', 'PENDING', 'STUCK', 'LOST', 'DUPLICATE'] },
]
for (const { control, within, kinds } of controls) {
  t.test(`negative control ${control}: found within ${within} seeds`, async (t) => {
    const hits = (r: SeedReport) => (r.ok ? [] : Object.keys(r.kinds).filter((k) => kinds.includes(k)))
    let found: SeedReport | undefined
    // Two seeds at a time, in order: the first seed that shows the control's violation is N.
    for (let seed = 1; seed <= within && !found; seed += 2) {
      const batch = await Promise.all([seed, seed + 1].filter((s) => s <= within).map((s) => pool.run(s, control)))
      found = batch.find((r) => hits(r).length > 0)
    }
    const first = found?.problems.find((p) => hits(found!).includes(p.split(' ')[0]!)) ?? ''
    t.ok(found, found ? `found at seed ${found.seed} (N = ${found.seed}): ${Object.keys(found.kinds).join(', ')}; ${first.slice(0, 200)} — replay: npm run sim -- --seed ${found.seed} --control ${control}` : `not found in ${within} seeds`)
  })
}
