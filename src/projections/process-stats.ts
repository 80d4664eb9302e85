import {
  finalStates,
  shipmentChart,
  shipmentStates,
  transitionFrom,
  type MachineCommandType,
  type EventType,
  type StateName,
} from '../../machines/shipment/index.js'
import { messageTypes } from '../../machines/kinds.js'
import { truckKind } from '../../machines/truck/index.js'
import { inList, type Sql } from '../store/sql.js'

/**
 * The process map's numbers (`GET /stats`), read from the read models, never by scanning the log:
 * shipments per state now (`shipments`); within a time window, dwell time per state (p50/p95 of the
 * stays that ended in it) and traffic per chart transition (the shipment rows of `review_steps`: one
 * per event, with the stay it ended); rejections per (state, command, reason) — of the shipments'
 * commands sent by scanners (a truck's refusals are on the truck chart's numbers, and a message
 * between actors is no scanner's command: an ASSIGN refused because the truck is full is one
 * rejection, not also its truck's refused LOAD); and the shipments stuck in a state longer than a
 * threshold.
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
  readonly transitions: Array<{ readonly id: string; readonly from: string; readonly to: string; readonly command: MachineCommandType; readonly event: EventType; readonly count: number }>
  readonly rejections: Array<{ readonly state: string; readonly command: string; readonly reason: string; readonly count: number }>
  readonly stuck: {
    readonly thresholdMs: number
    readonly items: Array<{ readonly shipmentId: string; readonly state: string; readonly since: string; readonly forMs: number }>
  }
}

const far = Number.MAX_SAFE_INTEGER

export class ProcessStats {
  constructor(private readonly sql: Sql) {}

  async read(window: StatsWindow, stuckAfterMs: number, now: number, stuckLimit = 50): Promise<ProcessStatsView> {
    const { sql } = this
    const from = window.from ?? 0
    const to = window.to ?? far
    const stuckBefore = now - stuckAfterMs
    const counts = new Map((await sql.all<{ state: StateName; n: number }>('SELECT state, count(*) AS n FROM shipments GROUP BY state')).map((r) => [r.state, r.n]))
    const moving = shipmentStates.filter((s) => !finalStates.has(s))

    // A stay ended in the window: a step out of the state (stay_ms is set only then). One pass over
    // the window's range: each stay ranked within its state, and only the ranks p50 and p95
    // (min(n − 1, ⌊p·n⌋), counted from 0) come back.
    const ranked = await sql.all<{ state: StateName; n: number; i: number; d: number }>(
      `SELECT state, n, i, d FROM (
         SELECT from_state AS state, stay_ms AS d,
                row_number() OVER (PARTITION BY from_state ORDER BY stay_ms) - 1 AS i,
                count(*) OVER (PARTITION BY from_state) AS n
         FROM review_steps WHERE at BETWEEN @from AND @to AND kind = 'shipment' AND stay_ms IS NOT NULL
       ) AS stays
       WHERE i = CASE WHEN n / 2 > n - 1 THEN n - 1 ELSE n / 2 END
          OR i = CASE WHEN (95 * n) / 100 > n - 1 THEN n - 1 ELSE (95 * n) / 100 END`,
      { from, to },
    )
    const dwellOf = (state: StateName) => {
      const rows = ranked.filter((r) => r.state === state)
      const samples = rows[0]?.n ?? 0
      const at = (p: number) => rows.find((r) => r.i === Math.min(samples - 1, Math.floor(p * samples)))?.d ?? null
      return { samples, p50Ms: samples ? at(0.5) : null, p95Ms: samples ? at(0.95) : null }
    }
    const states = await Promise.all(
      shipmentStates.map(async (state) => {
        if (finalStates.has(state)) return { state, count: counts.get(state) ?? 0, dwell: null, stuck: 0 }
        return {
          state,
          count: counts.get(state) ?? 0,
          dwell: dwellOf(state),
          stuck: (await sql.get<{ n: number }>('SELECT count(*) AS n FROM shipments WHERE state = @state AND state_entered_at < @before', { state, before: stuckBefore }))!.n,
        }
      }),
    )

    const traffic = new Map<string, number>()
    for (const row of await sql.all<{ from_state: StateName; command: MachineCommandType; n: number }>(
      "SELECT from_state, command, count(*) AS n FROM review_steps WHERE at BETWEEN @from AND @to AND kind = 'shipment' GROUP BY from_state, command",
      { from, to },
    )) {
      const transition = transitionFrom(row.from_state, row.command)
      if (transition) traffic.set(transition.id, (traffic.get(transition.id) ?? 0) + row.n)
    }
    const transitions = shipmentChart.transitions.map((t) => ({ id: t.id, from: t.from, to: t.to, command: t.command, event: t.event, count: traffic.get(t.id) ?? 0 }))

    const rejections = (
      await sql.all<{ state: string; type: string; reason: string; n: number }>(
        `SELECT coalesce(decided_state, 'unknown') AS state, type, reason, count(*) AS n FROM commands
         WHERE status = 'rejected' AND decided_at BETWEEN @from AND @to AND stream_id NOT LIKE @trucks AND NOT (${inList(sql, 'type', 'messages')})
         GROUP BY 1, 2, 3 ORDER BY n DESC, 1, 2, 3`,
        { from, to, messages: messageTypes, trucks: `${truckKind.prefix}%` },
      )
    ).map((r) => ({ state: r.state, command: r.type, reason: r.reason, count: r.n }))
    const stuck = (
      await sql.all<{ stream_id: string; state: string; entered_at: number }>(
        `SELECT shipment_id AS stream_id, state, state_entered_at AS entered_at FROM shipments
         WHERE ${inList(sql, 'state', 'moving')} AND state_entered_at < @before ORDER BY state_entered_at LIMIT @limit`,
        { moving, before: stuckBefore, limit: stuckLimit },
      )
    ).map((r) => ({ shipmentId: r.stream_id, state: r.state, since: new Date(r.entered_at).toISOString(), forMs: now - r.entered_at }))
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
