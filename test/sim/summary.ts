import type { Control, SeedResult } from './run.js'

/**
 * What many seeds add up to: results by kind, seeds per second, and the schedules covered — the
 * points reached and crashed at, the faults injected by kind, what the clients saw and the log
 * holds (ASSIGN/DEPART orders, late scans, saga paths). Shared by the CLI and the tap test.
 */
export type SeedReport = Pick<SeedResult, 'seed' | 'ok' | 'kinds' | 'coverage' | 'wallMs' | 'simMs' | 'summary'> & {
  readonly problems: string[]
  readonly anomalies: string[]
  readonly cpuMs: number
}

export function reportOf(result: SeedResult, cpuMs: number): SeedReport {
  const { seed, ok, kinds, coverage, wallMs, simMs, summary } = result
  return { seed, ok, kinds, coverage, wallMs, simMs, summary, cpuMs, problems: result.problems.slice(0, 12), anomalies: result.anomalies.slice(0, 3) }
}

export class Totals {
  seeds = 0
  ok = 0
  readonly violations: SeedReport[] = []
  readonly reached = new Map<string, number>()
  readonly crashedAt = new Map<string, number>()
  readonly faults = new Map<string, number>()
  readonly seen = new Map<string, number>()
  readonly anomalies: Array<{ seed: number; text: string }> = []
  cpuMs = 0
  simMs = 0

  add(r: SeedReport): void {
    this.seeds++
    this.cpuMs += r.cpuMs
    this.simMs += r.simMs
    if (r.ok) this.ok++
    else this.violations.push(r)
    const add = (map: Map<string, number>, record: Record<string, number>) => {
      for (const [k, n] of Object.entries(record)) map.set(k, (map.get(k) ?? 0) + n)
    }
    add(this.reached, r.coverage.reached)
    add(this.crashedAt, r.coverage.crashedAt)
    add(this.faults, r.coverage.faults)
    add(this.seen, r.coverage.seen)
    for (const text of r.anomalies) if (this.anomalies.length < 20) this.anomalies.push({ seed: r.seed, text })
  }

  lines(options: { wallMs: number; control?: Control }): string[] {
    const sorted = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    const fmt = (entries: Array<[string, number]>, indent = '    ') => entries.map(([k, n]) => `${indent}${String(n).padStart(8)}  ${k}`)
    const replay = (seed: number) => `npm run sim -- --seed ${seed}${options.control ? ` --control ${options.control}` : ''}`
    const out: string[] = []
    const wall = options.wallMs / 1000
    out.push(`${this.seeds} seeds in ${wall.toFixed(1)} s: ${(this.seeds / wall).toFixed(1)} seeds/s (${(this.cpuMs / this.seeds).toFixed(0)} ms of CPU per seed; ${(this.simMs / 1000 / this.seeds).toFixed(1)} s simulated per seed)`)
    out.push(`  ${this.ok} clean, ${this.violations.length} with violations`)
    for (const v of this.violations.slice(0, 5)) {
      out.push(`  VIOLATION seed ${v.seed} (${Object.entries(v.kinds).map(([k, n]) => `${k} ×${n}`).join(', ')}): ${v.summary}`)
      for (const p of v.problems.slice(0, 4)) out.push(`      ${p}`)
      out.push(`    replay: ${replay(v.seed)}`)
    }
    const points = [...this.reached.keys()]
    out.push(`Coverage: ${points.length} distinct fault points reached (${points.filter((p) => p.startsWith('cycle:')).length} in the cycle, ${points.filter((p) => p.startsWith('io:')).length} store calls, ${points.filter((p) => p.startsWith('redis:')).length} Redis calls, ${points.filter((p) => p.startsWith('fault:')).length} fault points); crashes injected at ${this.crashedAt.size} distinct points`)
    out.push('  faults injected, by kind:')
    out.push(...fmt(sorted(this.faults)))
    const assigns = sorted(this.seen).filter(([k]) => k.startsWith('ASSIGN taken in'))
    out.push(`  ASSIGN/DEPART interleavings (an ASSIGN to a truck against that truck's departure, by arrival and outcome): ${assigns.length} kinds`)
    out.push(...fmt(assigns))
    const saga = sorted(this.seen).filter(([k]) => /^(LOAD|UNLOAD|CONFIRM|RELEASE|TRUCK_REPLY|DEPART_SHIP|DEPART_NOW|DEPART waited)/.test(k))
    out.push('  saga messages decided (type, outcome, reason):')
    out.push(...fmt(saga))
    const clients = sorted(this.seen).filter(([k]) => /^(status|late|batch|item-|replayed|no-answer|feed|parked|gave-up)/.test(k))
    out.push('  what the clients saw:')
    out.push(...fmt(clients))
    if (this.anomalies.length > 0) {
      out.push(`  logged errors no injected fault explains (${this.anomalies.length} shown):`)
      for (const a of this.anomalies.slice(0, 8)) out.push(`    seed ${a.seed}: ${a.text.split('\n')[0]}`)
    }
    return out
  }
}
