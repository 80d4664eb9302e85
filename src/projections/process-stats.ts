import type { Statement } from 'better-sqlite3'
import {
  commandTypeOf,
  finalStates,
  shipmentChart,
  shipmentStates,
  transitionFrom,
  type CommandType,
  type EventType,
  type StateName,
} from '../../machines/shipment/index.js'
import type { Db } from '../store/database.js'

/**
 * The process map's numbers (`GET /stats`), read from the stats read models, never by scanning the
 * log: shipments per state now; within a time window, dwell time per state (p50/p95 of the stays that
 * ended in it), traffic per chart transition and rejections per (state, command, reason); and the
 * shipments stuck in a state longer than a threshold.
 */
export interface StatsWindow {
  /** Epoch ms, inclusive; undefined = since the beginning / until now. */
  readonly from?: number
  readonly to?: number
}

export interface ProcessStatsView {
  readonly window: { readonly from: string | null; readonly to: string | null }
  readonly generatedAt: string
  readonly states: Array<{
    readonly state: StateName
    readonly count: number
    readonly dwell: { readonly samples: number; readonly p50Ms: number | null; readonly p95Ms: number | null } | null
    readonly stuck: number
  }>
  readonly transitions: Array<{ readonly id: string; readonly from: string; readonly to: string; readonly command: CommandType; readonly event: EventType; readonly count: number }>
  readonly rejections: Array<{ readonly state: string; readonly command: string; readonly reason: string; readonly count: number }>
  readonly stuck: {
    readonly thresholdMs: number
    readonly items: Array<{ readonly shipmentId: string; readonly state: string; readonly since: string; readonly forMs: number }>
  }
}

const far = Number.MAX_SAFE_INTEGER

export class ProcessStats {
  readonly #counts: Statement
  readonly #dwellCount: Statement
  readonly #dwellAt: Statement
  readonly #transitions: Statement
  readonly #rejections: Statement
  readonly #stuckCount: Statement
  readonly #stuck: Statement

  constructor(db: Db) {
    this.#counts = db.prepare('SELECT state, count(*) AS n FROM shipments GROUP BY state')
    // A stay ended in the window: a transition out of the state (from_since is set only then).
    this.#dwellCount = db.prepare('SELECT count(*) FROM transitions WHERE from_state = ? AND at BETWEEN ? AND ? AND from_since IS NOT NULL').pluck()
    this.#dwellAt = db
      .prepare('SELECT at - from_since FROM transitions WHERE from_state = ? AND at BETWEEN ? AND ? AND from_since IS NOT NULL ORDER BY at - from_since LIMIT 1 OFFSET ?')
      .pluck()
    this.#transitions = db.prepare('SELECT from_state, event, count(*) AS n FROM transitions WHERE at BETWEEN ? AND ? GROUP BY from_state, event')
    this.#rejections = db.prepare(
      `SELECT coalesce(decided_state, 'unknown') AS state, type, reason, count(*) AS n FROM commands
       WHERE status = 'rejected' AND decided_at BETWEEN ? AND ? GROUP BY 1, 2, 3 ORDER BY n DESC, 1, 2, 3`,
    )
    this.#stuckCount = db.prepare('SELECT count(*) FROM shipments WHERE state = ? AND state_entered_at < ?').pluck()
    this.#stuck = db.prepare(
      `SELECT shipment_id AS stream_id, state, state_entered_at AS entered_at FROM shipments
       WHERE state IN (SELECT value FROM json_each(?)) AND state_entered_at < ? ORDER BY state_entered_at LIMIT ?`,
    )
  }

  read(window: StatsWindow, stuckAfterMs: number, now: number, stuckLimit = 50): ProcessStatsView {
    const from = window.from ?? 0
    const to = window.to ?? far
    const stuckBefore = now - stuckAfterMs
    const counts = new Map((this.#counts.all() as Array<{ state: StateName; n: number }>).map((r) => [r.state, r.n]))
    const moving = shipmentStates.filter((s) => !finalStates.has(s))

    const percentile = (state: StateName, samples: number, p: number) => this.#dwellAt.get(state, from, to, Math.min(samples - 1, Math.floor(p * samples))) as number
    const states = shipmentStates.map((state) => {
      if (finalStates.has(state)) return { state, count: counts.get(state) ?? 0, dwell: null, stuck: 0 }
      const samples = this.#dwellCount.get(state, from, to) as number
      return {
        state,
        count: counts.get(state) ?? 0,
        dwell: { samples, p50Ms: samples ? percentile(state, samples, 0.5) : null, p95Ms: samples ? percentile(state, samples, 0.95) : null },
        stuck: this.#stuckCount.get(state, stuckBefore) as number,
      }
    })

    const traffic = new Map<string, number>()
    for (const row of this.#transitions.all(from, to) as Array<{ from_state: StateName; event: EventType; n: number }>) {
      const transition = transitionFrom(row.from_state, commandTypeOf[row.event])
      if (transition) traffic.set(transition.id, (traffic.get(transition.id) ?? 0) + row.n)
    }
    const transitions = shipmentChart.transitions.map((t) => ({ id: t.id, from: t.from, to: t.to, command: t.command, event: t.event, count: traffic.get(t.id) ?? 0 }))

    const rejections = (this.#rejections.all(from, to) as Array<{ state: string; type: string; reason: string; n: number }>).map((r) => ({
      state: r.state, command: r.type, reason: r.reason, count: r.n,
    }))
    const stuck = (this.#stuck.all(JSON.stringify(moving), stuckBefore, stuckLimit) as Array<{ stream_id: string; state: string; entered_at: number }>).map((r) => ({
      shipmentId: r.stream_id, state: r.state, since: new Date(r.entered_at).toISOString(), forMs: now - r.entered_at,
    }))
    return {
      window: { from: window.from === undefined ? null : new Date(window.from).toISOString(), to: window.to === undefined ? null : new Date(window.to).toISOString() },
      generatedAt: new Date(now).toISOString(),
      states,
      transitions,
      rejections,
      stuck: { thresholdMs: stuckAfterMs, items: stuck },
    }
  }
}
