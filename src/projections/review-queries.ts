import { ancestorsAndSelf, type Chart, type ChartTransition } from '../../machines/chart.js'
import { idOfStream, kindOfStream, messageTypes } from '../../machines/kinds.js'
import { finalStates, shipmentChart, shipmentStates, stateAfterEvent, type EventType, type StateName } from '../../machines/shipment/index.js'
import { truckChart, truckKind } from '../../machines/truck/index.js'
import { inList, type Sql } from '../store/sql.js'
import type { Store } from '../store/store.js'
import { TruckQueries } from './truck-queries.js'
import type { TruckView } from './trucks.js'

/**
 * The process map's drill-downs (docs/process-map.md), read from the review read model
 * (projections/review.ts), the other read models and — for refused commands, which are outcomes and
 * not events — the inbox's rejections. Every read is bounded by its time window or by a page: a window
 * is a range of an index on time (`review_steps (at)`, `commands (decided_at) WHERE status =
 * 'rejected'`), lists are keyset or offset pages, and totals that would count a whole year come from
 * counters. Nothing here reads the whole inbox or the whole log.
 *
 * Commands counted per device or operator are scanners' commands: messages between actors (a truck's
 * LOAD, a shipment's DEPART_SHIP…) carry the device of the scan that caused them, and are left out.
 */
export interface TimeWindow {
  /** Epoch ms, inclusive. */
  readonly from: number
  readonly to: number
}

export interface Percentiles {
  readonly samples: number
  readonly p50Ms: number | null
  readonly p95Ms: number | null
}

/** A refused command's subject: a shipment, or a truck (its id without the stream prefix). */
export interface Subject {
  readonly kind: 'shipment' | 'truck'
  readonly id: string
}

export interface RefusedCommand {
  readonly commandId: string
  readonly subject: Subject
  readonly command: string
  readonly state: string
  readonly reason: string
  readonly detail: string | null
  readonly deviceId: string
  readonly operatorId: string | null
  readonly scannedAt: string | null
  readonly decidedAt: string
  readonly late: boolean
}

export interface WhoRow {
  readonly commands: number
  readonly accepted: number
  readonly rejected: number
  readonly late: number
  readonly reasons: Array<{ readonly reason: string; readonly count: number }>
}

export interface MachineNumbers {
  readonly states: Array<{ readonly state: string; readonly count: number; readonly dwell: Percentiles | null; readonly stuck: number }>
  readonly transitions: Array<{ readonly id: string; readonly count: number }>
  readonly rejections: Array<{ readonly state: string; readonly command: string; readonly reason: string; readonly count: number }>
}

const iso = (ms: number) => new Date(ms).toISOString()
const hour = 3_600_000
const day = 24 * hour
/** The longest window the comparison reads (three of them, an hour at a time). */
export const compareMaxMs = 7 * day

/** p50/p95 of sorted samples, as /stats computes them: the sample at min(n - 1, ⌊p·n⌋). */
export function percentiles(sorted: readonly number[]): Percentiles {
  const n = sorted.length
  const at = (p: number) => (n === 0 ? null : sorted[Math.min(n - 1, Math.floor(p * n))]!)
  return { samples: n, p50Ms: at(0.5), p95Ms: at(0.95) }
}

const byNumber = (a: number, b: number) => a - b

/** Counts per shipment state, every state present. */
const perState = (counts: ReadonlyMap<string, number>) => Object.fromEntries(shipmentStates.map((s) => [s, counts.get(s) ?? 0])) as Record<StateName, number>

/** The chart transition a command takes from an atomic state (declared on it or on an ancestor). */
export function transitionOf(chart: Chart, state: string, command: string): ChartTransition | undefined {
  for (const from of ancestorsAndSelf(chart, state)) {
    const found = chart.transitions.find((t) => t.from === from && t.command === command)
    if (found) return found
  }
  return undefined
}

function subjectOf(streamId: string): Subject {
  return { kind: kindOfStream(streamId).name === 'truck' ? 'truck' : 'shipment', id: idOfStream(streamId) }
}

/** Opaque page cursors: a keyset position or an offset, base64url JSON (checked when read back). */
export function encodeCursor(value: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url')
}

export function decodeCursor(cursor: string | undefined, shape: readonly ('string' | 'number')[]): (string | number)[] | undefined {
  if (cursor === undefined) return undefined
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw new BadCursor()
  }
  if (!Array.isArray(value) || value.length !== shape.length || value.some((v, i) => typeof v !== shape[i])) throw new BadCursor()
  return value as (string | number)[]
}

/** A cursor this service did not make. */
export class BadCursor extends Error {
  override readonly name = 'BadCursor'
  constructor() {
    super('the cursor is not one this service gave out')
  }
}

/** States a shipment moves on from (stuck candidates): every state it can be in but the final ones. */
const movingStates: readonly StateName[] = shipmentStates.filter((s) => !finalStates.has(s))

interface RefusedRow {
  seq: number
  command_id: string
  stream_id: string
  type: string
  decided_state: string | null
  reason: string
  detail: string | null
  device_id: string
  operator_id: string | null
  metadata: string
  decided_at: number
  late: number
}

/** Events of the log without their review step: from `firstEvent` up to the first one that has it. */
export interface ReviewHistoryGap {
  readonly firstEvent: number
  /** The first event that has its step (null: none has). */
  readonly firstStep: number | null
}

/**
 * The review read model holds a row per event of the log (`review_steps`). An installation whose
 * history predates the review tables (their migration created them empty) has no rows for the events
 * before them: neither the process map nor `/stats` shows that period until `waybill projections
 * rebuild` replays the log into every read model. Two index seeks: the first event, the first step.
 */
export async function missingReviewHistory(sql: Sql): Promise<ReviewHistoryGap | null> {
  const row = await sql.get<{ first_event: number | string | null; first_step: number | string | null }>(
    'SELECT (SELECT min(position) FROM events) AS first_event, (SELECT min(position) FROM review_steps) AS first_step',
  )
  if (!row || row.first_event === null) return null
  const firstEvent = Number(row.first_event)
  const firstStep = row.first_step === null ? null : Number(row.first_step)
  return firstStep === null || firstStep > firstEvent ? { firstEvent, firstStep } : null
}

/** What an operator reads (start-up log, `waybill doctor`) when the review read model misses history. */
export function reviewHistoryAdvice(gap: ReviewHistoryGap): string {
  const which = gap.firstStep === null ? `from position ${gap.firstEvent} on` : `at positions ${gap.firstEvent}–${gap.firstStep - 1}`
  return `the review read model (the process map, /stats) has no rows for the log's events ${which}: run \`waybill projections rebuild\` once (it replays the log into every read model)`
}

export class ReviewQueries {
  readonly #sql: Sql
  readonly #trucks: TruckQueries

  constructor(private readonly store: Store) {
    this.#sql = store.sql
    this.#trucks = new TruckQueries(store)
  }

  /** The operator a command's metadata names (JSON in the inbox), in this dialect. */
  get #operator(): string {
    return this.#sql.dialect === 'postgres' ? `(metadata::json ->> 'operatorId')` : `json_extract(metadata, '$.operatorId')`
  }

  /** Rejections decided in the window (an index range), scanners' commands only. */
  #refused(where = ''): string {
    return `FROM commands WHERE status = 'rejected' AND decided_at BETWEEN @from AND @to AND NOT (${inList(this.#sql, 'type', 'messages')}) ${where}`
  }

  #params(window: TimeWindow, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { from: window.from, to: window.to, messages: messageTypes, ...extra }
  }

  /** p50/p95 of a column over the rows of `from` (a window's rows), computed by the database. */
  async #percentiles(column: string, from: string, params: Record<string, unknown>): Promise<Percentiles> {
    const samples = (await this.#sql.get<{ n: number }>(`SELECT count(*) AS n ${from}`, params))!.n
    if (samples === 0) return { samples, p50Ms: null, p95Ms: null }
    const at = async (p: number) =>
      (await this.#sql.get<{ v: number }>(`SELECT ${column} AS v ${from} ORDER BY ${column} LIMIT 1 OFFSET @offset`, { ...params, offset: Math.min(samples - 1, Math.floor(p * samples)) }))!.v
    return { samples, p50Ms: await at(0.5), p95Ms: await at(0.95) }
  }

  /** Lead time from registration to delivery, over the deliveries in the window. */
  leadTime(window: TimeWindow): Promise<Percentiles> {
    return this.#percentiles('lead_ms', `FROM review_steps WHERE at BETWEEN @from AND @to AND lead_ms IS NOT NULL`, { from: window.from, to: window.to })
  }

  /** The overview's numbers beside the chart: what moved in the window, how long it took, what was refused. */
  async summary(window: TimeWindow, stuckAfterMs: number, now: number) {
    const sql = this.#sql
    const params = this.#params(window)
    const [nowRows, entered, accepted, refused, departures, leadTime, stuck] = await Promise.all([
      sql.all<{ state: string; n: number }>('SELECT state, sum(n) AS n FROM review_destinations GROUP BY state'),
      sql.all<{ state: string; n: number }>(
        `SELECT to_state AS state, count(*) AS n FROM review_steps WHERE at BETWEEN @from AND @to AND kind = 'shipment' AND from_state <> to_state GROUP BY to_state`,
        params,
      ),
      sql.get<{ n: number }>('SELECT count(*) AS n FROM review_steps WHERE at BETWEEN @from AND @to AND by_scanner = 1', params),
      sql.get<{ n: number; late: number | null }>(`SELECT count(*) AS n, sum(late) AS late ${this.#refused()}`, params),
      sql.get<{ n: number; shipped: number | null }>('SELECT count(*) AS n, sum(load) AS shipped FROM review_departures WHERE at BETWEEN @from AND @to', params),
      this.leadTime(window),
      this.#stuckTotal(now - stuckAfterMs),
    ])
    const count = (rows: Array<{ state: string; n: number }>, state: string) => rows.find((r) => r.state === state)?.n ?? 0
    return {
      window: { from: iso(window.from), to: iso(window.to) },
      generatedAt: iso(now),
      shipments: shipmentStates.map((state) => ({ state, now: count(nowRows, state), entered: count(entered, state) })),
      commands: { accepted: accepted!.n, rejected: refused!.n, late: refused!.late ?? 0 },
      departures: { count: departures!.n, shipments: departures!.shipped ?? 0 },
      leadTime,
      stuck: { thresholdMs: stuckAfterMs, total: stuck },
    }
  }

  async #stuckTotal(before: number): Promise<number> {
    const rows = await this.#sql.all<{ n: number }>(
      `SELECT count(*) AS n FROM review_shipments WHERE ${inList(this.#sql, 'state', 'moving')} AND since < @before`,
      { moving: movingStates, before },
    )
    return rows.reduce((sum, r) => sum + r.n, 0)
  }

  /**
   * What is behind one row of the rejections table (state · command · reason): how many, the
   * shipments (or trucks) refused (a page, most refused first), and the devices and operators that
   * sent the refused commands.
   */
  async rejections(filter: { state: string; command: string; reason: string }, window: TimeWindow, page: { limit: number; cursor?: string }) {
    const sql = this.#sql
    const where = `AND coalesce(decided_state, 'unknown') = @state AND type = @command AND reason = @reason`
    const params = this.#params(window, filter)
    const [offset] = (decodeCursor(page.cursor, ['number']) ?? [0]) as [number]
    const [totals, subjects, devices, operators] = await Promise.all([
      sql.get<{ n: number; late: number | null; subjects: number }>(`SELECT count(*) AS n, sum(late) AS late, count(DISTINCT stream_id) AS subjects ${this.#refused(where)}`, params),
      sql.all<{ stream_id: string; n: number; late: number; last: number }>(
        `SELECT stream_id, count(*) AS n, sum(late) AS late, max(decided_at) AS last ${this.#refused(where)} GROUP BY stream_id ORDER BY n DESC, stream_id LIMIT @limit OFFSET @offset`,
        { ...params, limit: page.limit + 1, offset },
      ),
      sql.all<{ device_id: string; n: number; late: number }>(
        `SELECT device_id, count(*) AS n, sum(late) AS late ${this.#refused(where)} GROUP BY device_id ORDER BY n DESC, device_id`,
        params,
      ),
      sql.all<{ operator_id: string | null; n: number; late: number }>(
        `SELECT ${this.#operator} AS operator_id, count(*) AS n, sum(late) AS late ${this.#refused(where)} GROUP BY 1 ORDER BY n DESC, 1`,
        params,
      ),
    ])
    const shown = subjects.slice(0, page.limit)
    return {
      ...filter,
      window: { from: iso(window.from), to: iso(window.to) },
      total: totals!.n,
      late: totals!.late ?? 0,
      subjects: {
        total: totals!.subjects,
        items: shown.map((r) => ({ ...subjectOf(r.stream_id), count: r.n, late: r.late, lastAt: iso(r.last) })),
        next: subjects.length > page.limit ? encodeCursor([offset + page.limit]) : null,
      },
      devices: devices.map((r) => ({ deviceId: r.device_id, count: r.n, late: r.late })),
      operators: operators.map((r) => ({ operatorId: r.operator_id, count: r.n, late: r.late })),
    }
  }

  /**
   * The shipments in a state now, longest there first (or, `latest`, the newest arrivals first), with
   * destination and truck; optionally of one destination (`null`: those registered without one).
   * A keyset page on (since, shipment id); the total comes from the destination counters.
   */
  async stateShipments(state: StateName, options: { destination?: string | null; order: 'longest' | 'latest'; limit: number; cursor?: string }, now: number) {
    const sql = this.#sql
    const after = decodeCursor(options.cursor, ['number', 'string']) as [number, string] | undefined
    const byDestination = options.destination === undefined ? '' : options.destination === null ? 'AND destination IS NULL' : 'AND destination = @destination'
    const longest = options.order === 'longest'
    const seek = after === undefined ? '' : longest ? 'AND (since > @since OR (since = @since AND stream_id > @id))' : 'AND (since < @since OR (since = @since AND stream_id < @id))'
    const rows = await sql.all<{ stream_id: string; since: number; destination: string | null; truck_id: string | null; registered_at: number }>(
      `SELECT stream_id, since, destination, truck_id, registered_at FROM review_shipments
       WHERE state = @state ${byDestination} ${seek}
       ORDER BY since ${longest ? 'ASC' : 'DESC'}, stream_id ${longest ? 'ASC' : 'DESC'} LIMIT @limit`,
      { state, destination: options.destination ?? null, since: after?.[0] ?? 0, id: after?.[1] ?? '', limit: options.limit + 1 },
    )
    const total = (await sql.get<{ n: number | null }>(
      `SELECT sum(n) AS n FROM review_destinations WHERE state = @state ${options.destination === undefined ? '' : 'AND destination = @destination'}`,
      { state, destination: options.destination ?? '' },
    ))!.n ?? 0
    const shown = rows.slice(0, options.limit)
    const last = shown[shown.length - 1]
    return {
      state,
      destination: options.destination,
      order: options.order,
      total,
      items: shown.map((r) => ({
        shipmentId: r.stream_id,
        since: iso(r.since),
        forMs: Math.max(0, now - r.since),
        destination: r.destination,
        truckId: r.truck_id,
        registeredAt: iso(r.registered_at),
      })),
      next: rows.length > options.limit && last ? encodeCursor([last.since, last.stream_id]) : null,
    }
  }

  /** Shipments in a non-final state for longer than the threshold, longest first: the total and a page. */
  async stuck(thresholdMs: number, now: number, page: { limit: number; cursor?: string }) {
    const after = decodeCursor(page.cursor, ['number', 'string']) as [number, string] | undefined
    const before = now - thresholdMs
    const rows = await this.#sql.all<{ stream_id: string; state: string; since: number; destination: string | null; truck_id: string | null }>(
      `SELECT stream_id, state, since, destination, truck_id FROM review_shipments
       WHERE ${inList(this.#sql, 'state', 'moving')} AND since < @before ${after ? 'AND (since > @since OR (since = @since AND stream_id > @id))' : ''}
       ORDER BY since, stream_id LIMIT @limit`,
      { moving: movingStates, before, since: after?.[0] ?? 0, id: after?.[1] ?? '', limit: page.limit + 1 },
    )
    const shown = rows.slice(0, page.limit)
    const last = shown[shown.length - 1]
    return {
      thresholdMs,
      total: await this.#stuckTotal(before),
      items: shown.map((r) => ({ shipmentId: r.stream_id, state: r.state, since: iso(r.since), forMs: now - r.since, destination: r.destination, truckId: r.truck_id })),
      next: rows.length > page.limit && last ? encodeCursor([last.since, last.stream_id]) : null,
    }
  }

  /** Per device (or operator): scanners' commands in the window, accepted and refused, refusals by reason, late scans. */
  async who(by: 'device' | 'operator', window: TimeWindow): Promise<Array<WhoRow & { id: string | null }>> {
    const sql = this.#sql
    const params = this.#params(window)
    const column = by === 'device' ? 'device_id' : 'operator_id'
    const [accepted, refused] = await Promise.all([
      sql.all<{ id: string | null; n: number }>(`SELECT ${column} AS id, count(*) AS n FROM review_steps WHERE at BETWEEN @from AND @to AND by_scanner = 1 GROUP BY ${column}`, params),
      sql.all<{ id: string | null; reason: string; late: number; n: number }>(
        `SELECT ${by === 'device' ? 'device_id' : this.#operator} AS id, reason, late, count(*) AS n ${this.#refused()} GROUP BY 1, 2, 3`,
        params,
      ),
    ])
    const rows = new Map<string | null, { accepted: number; rejected: number; late: number; reasons: Map<string, number> }>()
    const row = (id: string | null) => {
      let found = rows.get(id)
      if (!found) rows.set(id, (found = { accepted: 0, rejected: 0, late: 0, reasons: new Map() }))
      return found
    }
    for (const r of accepted) row(r.id).accepted += r.n
    for (const r of refused) {
      const found = row(r.id)
      found.rejected += r.n
      if (r.late === 1) found.late += r.n
      found.reasons.set(r.reason, (found.reasons.get(r.reason) ?? 0) + r.n)
    }
    return [...rows]
      .map(([id, r]) => ({
        id,
        commands: r.accepted + r.rejected,
        accepted: r.accepted,
        rejected: r.rejected,
        late: r.late,
        reasons: [...r.reasons].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason)),
      }))
      .sort((a, b) => b.commands - a.commands || String(a.id).localeCompare(String(b.id)))
  }

  /**
   * One device (or operator) in the window: its commands per type (accepted, refused) and its refused
   * commands, newest first, a page at a time (late scans marked).
   */
  async whoDetail(by: 'device' | 'operator', id: string | null, window: TimeWindow, page: { limit: number; cursor?: string }) {
    const sql = this.#sql
    const [offset] = (decodeCursor(page.cursor, ['number']) ?? [0]) as [number]
    const stepsWho = by === 'device' ? 'device_id = @who' : id === null ? 'operator_id IS NULL' : 'operator_id = @who'
    const refusedWho = by === 'device' ? 'AND device_id = @who' : id === null ? `AND ${this.#operator} IS NULL` : `AND ${this.#operator} = @who`
    const params = this.#params(window, { who: id })
    const [accepted, refusedByType, refused] = await Promise.all([
      sql.all<{ command: string; n: number }>(
        `SELECT command, count(*) AS n FROM review_steps WHERE at BETWEEN @from AND @to AND by_scanner = 1 AND ${stepsWho} GROUP BY command`,
        params,
      ),
      sql.all<{ type: string; reason: string; late: number; n: number }>(`SELECT type, reason, late, count(*) AS n ${this.#refused(refusedWho)} GROUP BY type, reason, late`, params),
      sql.all<RefusedRow>(
        `SELECT seq, command_id, stream_id, type, decided_state, reason, detail, device_id, ${this.#operator} AS operator_id, metadata, decided_at, late
         ${this.#refused(refusedWho)} ORDER BY decided_at DESC, seq DESC LIMIT @limit OFFSET @offset`,
        { ...params, limit: page.limit + 1, offset },
      ),
    ])
    const commands = new Map<string, { accepted: number; rejected: number; late: number }>()
    const of = (type: string) => {
      let found = commands.get(type)
      if (!found) commands.set(type, (found = { accepted: 0, rejected: 0, late: 0 }))
      return found
    }
    for (const r of accepted) of(r.command).accepted += r.n
    const reasons = new Map<string, number>()
    for (const r of refusedByType) {
      of(r.type).rejected += r.n
      if (r.late === 1) of(r.type).late += r.n
      reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + r.n)
    }
    const totals = [...commands.values()].reduce((sum, c) => ({ accepted: sum.accepted + c.accepted, rejected: sum.rejected + c.rejected, late: sum.late + c.late }), { accepted: 0, rejected: 0, late: 0 })
    return {
      window: { from: iso(window.from), to: iso(window.to) },
      commands: totals.accepted + totals.rejected,
      ...totals,
      byCommand: [...commands].map(([command, c]) => ({ command, ...c })).sort((a, b) => a.command.localeCompare(b.command)),
      reasons: [...reasons].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason)),
      refused: {
        items: refused.slice(0, page.limit).map(refusedCommand),
        next: refused.length > page.limit ? encodeCursor([offset + page.limit]) : null,
      },
    }
  }

  /** Per destination: shipments now per state, what entered each state in the window, lead time, refusals. */
  async destinations(window: TimeWindow) {
    const sql = this.#sql
    const params = this.#params(window)
    const [now, entered, leads, refused] = await Promise.all([
      sql.all<{ destination: string; state: string; n: number }>('SELECT destination, state, n FROM review_destinations WHERE n > 0'),
      sql.all<{ destination: string | null; state: string; n: number }>(
        `SELECT destination, to_state AS state, count(*) AS n FROM review_steps WHERE at BETWEEN @from AND @to AND kind = 'shipment' AND from_state <> to_state GROUP BY destination, to_state`,
        params,
      ),
      sql.all<{ destination: string | null; lead_ms: number }>('SELECT destination, lead_ms FROM review_steps WHERE at BETWEEN @from AND @to AND lead_ms IS NOT NULL', params),
      sql.all<{ destination: string | null; n: number }>(
        `SELECT s.destination AS destination, count(*) AS n FROM (SELECT stream_id ${this.#refused()}) AS c JOIN review_shipments s ON s.stream_id = c.stream_id GROUP BY s.destination`,
        params,
      ),
    ])
    const key = (destination: string | null) => destination ?? ''
    const rows = new Map<string, { now: Map<string, number>; entered: Map<string, number>; leads: number[]; rejected: number }>()
    const row = (destination: string | null) => {
      let found = rows.get(key(destination))
      if (!found) rows.set(key(destination), (found = { now: new Map(), entered: new Map(), leads: [], rejected: 0 }))
      return found
    }
    for (const r of now) row(r.destination === '' ? null : r.destination).now.set(r.state, r.n)
    for (const r of entered) row(r.destination).entered.set(r.state, r.n)
    for (const r of leads) row(r.destination).leads.push(r.lead_ms)
    for (const r of refused) row(r.destination).rejected += r.n
    return {
      window: { from: iso(window.from), to: iso(window.to) },
      items: [...rows]
        .map(([destination, r]) => ({
          destination: destination === '' ? null : destination,
          now: perState(r.now),
          entered: perState(r.entered),
          leadTime: percentiles(r.leads.sort(byNumber)),
          rejected: r.rejected,
        }))
        .sort((a, b) => (a.destination ?? '\uffff').localeCompare(b.destination ?? '\uffff')),
    }
  }

  /** The truck chart's numbers: trucks per state now, stays ended in the window, traffic, refusals. */
  async truckNumbers(window: TimeWindow): Promise<MachineNumbers> {
    const sql = this.#sql
    const params = this.#params(window)
    const states = truckChart.states.filter((s) => s.type !== 'compound' && s.id !== truckChart.initial).map((s) => s.id)
    const [counts, stays, traffic, refused] = await Promise.all([
      sql.all<{ state: string; n: number }>('SELECT state, count(*) AS n FROM trucks GROUP BY state'),
      sql.all<{ state: string; stay_ms: number }>(`SELECT from_state AS state, stay_ms FROM review_steps WHERE at BETWEEN @from AND @to AND kind = 'truck' AND stay_ms IS NOT NULL`, params),
      sql.all<{ from_state: string; command: string; n: number }>(
        `SELECT from_state, command, count(*) AS n FROM review_steps WHERE at BETWEEN @from AND @to AND kind = 'truck' GROUP BY from_state, command`,
        params,
      ),
      sql.all<{ state: string; type: string; reason: string; n: number }>(
        `SELECT coalesce(decided_state, 'unknown') AS state, type, reason, count(*) AS n ${this.#refused('AND stream_id LIKE @trucks')} GROUP BY 1, 2, 3 ORDER BY n DESC, 1, 2, 3`,
        { ...params, trucks: `${truckKind.prefix}%` },
      ),
    ])
    const counted = new Map<string, number>()
    for (const r of traffic) {
      const transition = transitionOf(truckChart, r.from_state, r.command)
      if (transition) counted.set(transition.id, (counted.get(transition.id) ?? 0) + r.n)
    }
    return {
      states: states.map((state) => ({
        state,
        count: counts.find((c) => c.state === state)?.n ?? 0,
        dwell: percentiles(stays.filter((s) => s.state === state).map((s) => s.stay_ms).sort(byNumber)),
        stuck: 0,
      })),
      transitions: truckChart.transitions.map((t) => ({ id: t.id, count: counted.get(t.id) ?? 0 })),
      rejections: refused.map((r) => ({ state: r.state, command: r.type, reason: r.reason, count: r.n })),
    }
  }

  /** The truck board: every opened truck, its state, load and capacity, and its departures in the window. */
  async truckBoard(window: TimeWindow) {
    const sql = this.#sql
    const [trucks, departures] = await Promise.all([
      sql.all<{ truck_id: string; state: string; capacity: number | null; destination: string | null; opened_at: number; departed_at: number | null; load: number; held: number }>(
        `SELECT t.truck_id, t.state, t.capacity, t.destination, t.opened_at, t.departed_at,
                (SELECT count(*) FROM truck_loads l WHERE l.truck_id = t.truck_id AND l.reserved = 0) AS load,
                (SELECT count(*) FROM truck_loads l WHERE l.truck_id = t.truck_id AND l.reserved = 1) AS held
         FROM trucks t ORDER BY t.truck_id LIMIT 1000`,
      ),
      sql.all<{ truck_id: string; n: number; shipped: number; last: number }>(
        'SELECT truck_id, count(*) AS n, sum(load) AS shipped, max(at) AS last FROM review_departures WHERE at BETWEEN @from AND @to GROUP BY truck_id',
        { from: window.from, to: window.to },
      ),
    ])
    const inWindow = new Map(departures.map((d) => [d.truck_id, d]))
    return {
      window: { from: iso(window.from), to: iso(window.to) },
      items: trucks.map((t) => ({
        truckId: t.truck_id,
        state: t.state,
        load: t.load,
        held: t.held,
        capacity: t.capacity,
        destination: t.destination,
        openedAt: iso(t.opened_at),
        departedAt: t.departed_at === null ? null : iso(t.departed_at),
        departures: inWindow.get(t.truck_id)?.n ?? 0,
        shipped: inWindow.get(t.truck_id)?.shipped ?? 0,
        lastDepartureAt: inWindow.has(t.truck_id) ? iso(inWindow.get(t.truck_id)!.last) : null,
      })),
    }
  }

  /** One truck: as it is now, its departures in the window, and the shipments on it with their state. */
  async truck(truckId: string, window: TimeWindow): Promise<{ truck: TruckView; departures: Array<ReturnType<typeof departureOf>>; manifest: Array<{ shipmentId: string; state: string | null; destination: string | null }> } | undefined> {
    const truck = await this.#trucks.get(truckId)
    if (!truck) return undefined
    const sql = this.#sql
    const [departures, shipments] = await Promise.all([
      sql.all<DepartureRow>(
        'SELECT position, command_id, truck_id, at, load, device_id, operator_id FROM review_departures WHERE truck_id = @truckId AND at BETWEEN @from AND @to ORDER BY at DESC LIMIT 500',
        { truckId, from: window.from, to: window.to },
      ),
      truck.manifest.length === 0
        ? Promise.resolve([])
        : sql.all<{ stream_id: string; state: string; destination: string | null }>(`SELECT stream_id, state, destination FROM review_shipments WHERE ${inList(sql, 'stream_id', 'ids')}`, { ids: truck.manifest }),
    ])
    const byId = new Map(shipments.map((s) => [s.stream_id, s]))
    return {
      truck,
      departures: departures.map(departureOf),
      manifest: truck.manifest.map((shipmentId) => ({ shipmentId, state: byId.get(shipmentId)?.state ?? null, destination: byId.get(shipmentId)?.destination ?? null })),
    }
  }

  /**
   * The window hour by hour beside the same window a day and a week earlier: shipments entering each
   * state (throughput) and the median stay that ended in the hour (dwell); and the window's totals.
   * At most `compareMaxMs` long (the caller checks).
   */
  async compare(window: TimeWindow) {
    const hours = Math.max(1, Math.ceil((window.to - window.from + 1) / hour))
    const series = await Promise.all(
      [
        { name: 'window' as const, shift: 0 },
        { name: 'dayBefore' as const, shift: day },
        { name: 'weekBefore' as const, shift: 7 * day },
      ].map(async ({ name, shift }) => {
        const from = window.from - shift
        const to = window.to - shift
        const rows = await this.#sql.all<{ at: number; from_state: string; to_state: string; stay_ms: number | null }>(
          `SELECT at, from_state, to_state, stay_ms FROM review_steps WHERE at BETWEEN @from AND @to AND kind = 'shipment'`,
          { from, to },
        )
        const buckets = Array.from({ length: hours }, (_, i) => ({ entered: new Map<string, number>(), stays: [] as number[], start: from + i * hour }))
        const stays = new Map<string, number[]>()
        const entered = new Map<string, number>()
        for (const r of rows) {
          const bucket = buckets[Math.min(hours - 1, Math.floor((r.at - from) / hour))]!
          if (r.from_state !== r.to_state) {
            bucket.entered.set(r.to_state, (bucket.entered.get(r.to_state) ?? 0) + 1)
            entered.set(r.to_state, (entered.get(r.to_state) ?? 0) + 1)
          }
          if (r.stay_ms !== null) {
            bucket.stays.push(r.stay_ms)
            const ended = stays.get(r.from_state)
            if (ended) ended.push(r.stay_ms)
            else stays.set(r.from_state, [r.stay_ms])
          }
        }
        return {
          name,
          from: iso(from),
          to: iso(to),
          hours: buckets.map((b) => ({
            start: iso(b.start),
            entered: perState(b.entered),
            moves: [...b.entered.values()].reduce((sum, n) => sum + n, 0),
            dwellP50Ms: percentiles(b.stays.sort(byNumber)).p50Ms,
          })),
          entered: perState(entered),
          dwell: Object.fromEntries(movingStates.map((s) => [s, percentiles((stays.get(s) ?? []).sort(byNumber))])),
          leadTime: await this.leadTime({ from, to }),
        }
      }),
    )
    return { window: { from: iso(window.from), to: iso(window.to) }, hourMs: hour, series }
  }

  /**
   * A shipment as the map shows it at `version` (default: its latest): where it is, its path on the
   * chart (the transitions it has taken, their states), since when, its destination and truck, its
   * lead time once delivered, and the departure that shipped it. Bounded: a key lookup per table and
   * at most one row per chart transition, however long its history.
   */
  async shipment(shipmentId: string, version?: number) {
    const sql = this.#sql
    const facts = await sql.get<{ state: StateName; since: number; destination: string | null; truck_id: string | null; registered_at: number; departure_id: string | null }>(
      'SELECT state, since, destination, truck_id, registered_at, departure_id FROM review_shipments WHERE stream_id = @id',
      { id: shipmentId },
    )
    if (!facts) return undefined
    const latest = await this.store.events.streamVersion(shipmentId)
    const at = Math.max(1, Math.min(version ?? latest, latest))
    const [event] = await this.store.events.readStreamPage(shipmentId, at - 1, 1)
    const taken = await sql.all<{ from_state: string; command: string; first_version: number }>(
      'SELECT from_state, command, first_version FROM review_paths WHERE stream_id = @id AND first_version <= @at ORDER BY first_version',
      { id: shipmentId, at },
    )
    const transitions = taken.flatMap((r) => transitionOf(shipmentChart, r.from_state, r.command) ?? [])
    const states = new Set<string>([shipmentChart.initial])
    for (const t of transitions) for (const s of ancestorsAndSelf(shipmentChart, t.enters)) states.add(s)
    const departure = facts.departure_id === null ? undefined : await sql.get<DepartureRow>(
      'SELECT position, command_id, truck_id, at, load, device_id, operator_id FROM review_departures WHERE command_id = @id ORDER BY position LIMIT 1',
      { id: facts.departure_id },
    )
    return {
      shipmentId,
      version: at,
      latest,
      current: event ? stateAfterEvent[event.type as EventType] : facts.state,
      path: { states: [...states], transitions: [...new Set(transitions.map((t) => t.id))] },
      state: facts.state,
      since: iso(facts.since),
      destination: facts.destination,
      truckId: facts.truck_id,
      registeredAt: iso(facts.registered_at),
      leadMs: facts.state === 'delivered' ? facts.since - facts.registered_at : null,
      departure: departure ? departureOf(departure) : null,
    }
  }
}

interface DepartureRow {
  position: number
  command_id: string | null
  truck_id: string
  at: number
  load: number
  device_id: string | null
  operator_id: string | null
}

function departureOf(row: DepartureRow) {
  return {
    commandId: row.command_id,
    truckId: row.truck_id,
    position: row.position,
    departedAt: iso(row.at),
    load: row.load,
    deviceId: row.device_id,
    operatorId: row.operator_id,
  }
}

function refusedCommand(row: RefusedRow): RefusedCommand {
  const metadata = JSON.parse(row.metadata) as { scannedAt?: unknown }
  return {
    commandId: row.command_id,
    subject: subjectOf(row.stream_id),
    command: row.type,
    state: row.decided_state ?? 'unknown',
    reason: row.reason,
    detail: row.detail,
    deviceId: row.device_id,
    operatorId: row.operator_id,
    scannedAt: typeof metadata.scannedAt === 'string' ? metadata.scannedAt : null,
    decidedAt: iso(row.decided_at),
    late: row.late === 1,
  }
}
