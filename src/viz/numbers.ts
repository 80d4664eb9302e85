import type { Chart } from '../../machines/chart.js'

/**
 * The numbers drawn on a chart, element by element: what the page writes into the SVG's slots and
 * what the SVG with numbers (download, printed report) is drawn with — computed once, here, from a
 * machine's stats (`GET /stats` for shipments, the trucks' numbers for trucks). The page keeps no copy
 * of the chart's logic: a compound state's count is the sum of its children's here, not in the browser.
 */
export interface MachineStats {
  readonly states: ReadonlyArray<{
    readonly state: string
    readonly count: number
    readonly dwell: { readonly samples: number; readonly p50Ms: number | null; readonly p95Ms: number | null } | null
    readonly stuck: number
  }>
  readonly transitions: ReadonlyArray<{ readonly id: string; readonly count: number }>
  readonly rejections: ReadonlyArray<{ readonly state: string; readonly command: string; readonly reason: string; readonly count: number }>
}

export interface StateNumbers {
  /** In the state now (a compound state: in any of its states). */
  readonly count: number
  /** "p50 12 min · p95 40 min" of the stays that ended in the window; empty without any. */
  readonly dwell: string
  /** Longer in the state than the stuck threshold. */
  readonly stuck: number
  /** Commands refused in the state in the window, and what they were. */
  readonly rejections: number
  readonly refused: Array<{ readonly command: string; readonly reason: string; readonly count: number }>
}

export interface TransitionNumbers {
  /** Times taken in the window. */
  readonly count: number
  /** 0 (idle) … 1 (the busiest transition of the chart): the arrow's weight. */
  readonly weight: number
}

export interface ChartNumbers {
  readonly machine: string
  readonly states: Readonly<Record<string, StateNumbers>>
  readonly transitions: Readonly<Record<string, TransitionNumbers>>
}

/** A duration for people: 850 ms, 42 s, 12 min, 3.4 h, 2.1 d. */
export function duration(ms: number | null): string {
  if (ms === null) return '–'
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`
  if (ms < 86_400_000) return `${trim(ms / 3_600_000)} h`
  return `${trim(ms / 86_400_000)} d`
}

const trim = (n: number) => (n < 10 ? n.toFixed(1).replace(/\.0$/, '') : String(Math.round(n)))

export function chartNumbers(chart: Chart, stats: MachineStats): ChartNumbers {
  const own = new Map(stats.states.map((s) => [s.state, s]))
  const countOf = (id: string): number => own.get(id)?.count ?? chart.states.filter((s) => s.parent === id).reduce((sum, child) => sum + countOf(child.id), 0)
  const stuckOf = (id: string): number => own.get(id)?.stuck ?? chart.states.filter((s) => s.parent === id).reduce((sum, child) => sum + stuckOf(child.id), 0)
  const states = Object.fromEntries(
    chart.states.map((state) => {
      const dwell = own.get(state.id)?.dwell
      const refused = stats.rejections.filter((r) => r.state === state.id).map(({ command, reason, count }) => ({ command, reason, count }))
      const numbers: StateNumbers = {
        count: countOf(state.id),
        dwell: dwell && dwell.samples > 0 ? `p50 ${duration(dwell.p50Ms)} · p95 ${duration(dwell.p95Ms)}` : '',
        stuck: stuckOf(state.id),
        rejections: refused.reduce((sum, r) => sum + r.count, 0),
        refused,
      }
      return [state.id, numbers]
    }),
  )
  const traffic = new Map(stats.transitions.map((t) => [t.id, t.count]))
  const busiest = Math.max(0, ...chart.transitions.map((t) => traffic.get(t.id) ?? 0))
  const transitions = Object.fromEntries(
    chart.transitions.map((t) => {
      const count = traffic.get(t.id) ?? 0
      return [t.id, { count, weight: busiest === 0 ? 0 : Math.sqrt(count / busiest) }]
    }),
  )
  return { machine: chart.id, states, transitions }
}
