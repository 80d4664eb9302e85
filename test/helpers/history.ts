import { decide, initialSnapshot, type ShipmentCommand, type ShipmentSnapshot } from '../../machines/shipment/index.js'
import { verify } from '../../src/operations/verify.js'
import type { Storage } from '../../src/storage.js'

/**
 * A Jepsen-style history: every request a simulated scanner made and what it got back (a status, or
 * nothing: connection refused/reset, timeout). `checkHistory` then checks the invariants I1–I7 of
 * DESIGN.md against the database and against an oracle that replays the same inputs, in inbox order,
 * through the pure machine.
 */
export interface Attempt {
  readonly shipmentId: string
  readonly key: string
  /** Position of the logical command in its scanner's sequence. */
  readonly index: number
  readonly body: ShipmentCommand & { readonly scannedAt?: string }
  readonly attempt: number
  readonly sentAt: number
  answeredAt?: number
  status?: number
  response?: { commandId?: string; reason?: string; outcome?: string; [k: string]: unknown }
  error?: string
}

export class History {
  readonly attempts: Attempt[] = []
  record(attempt: Attempt): Attempt {
    this.attempts.push(attempt)
    return attempt
  }
}

/** A status that carries the command's decision or durable acceptance. */
const acknowledged = new Set([200, 201, 202, 404, 409])

export interface CheckResult {
  readonly problems: string[]
  readonly stats: {
    attempts: number
    commands: number
    acknowledged: number
    unanswered: number
    statuses: Record<string, number>
    accepted: number
    rejected: number
    events: number
  }
}

interface Row {
  seq: number
  command_id: string
  stream_id: string
  payload: string
  idempotency_key: string | null
  status: string
  reason: string | null
  event_position: number | null
  stream_version: number | null
}

export function checkHistory(storage: Storage, history: History, deviceId = 'bootstrap'): CheckResult {
  const problems: string[] = []
  const problem = (p: string) => problems.length < 200 && problems.push(p)
  const { db } = storage
  const statuses: Record<string, number> = {}
  for (const a of history.attempts) {
    const s = a.status === undefined ? `no answer (${a.error ?? '?'})` : String(a.status)
    statuses[s] = (statuses[s] ?? 0) + 1
    // I6: a valid request never produces a 5xx other than 503 (back-pressure / unavailable).
    if (a.status !== undefined && a.status >= 500 && a.status !== 503) problem(`I6 ${a.key}: status ${a.status}`)
    if (a.status !== undefined && [400, 415, 422].includes(a.status)) problem(`${a.key}: a valid request got ${a.status}`)
  }

  const rows = db.prepare(`SELECT seq, command_id, stream_id, payload, idempotency_key, status, reason, event_position, stream_version FROM commands WHERE device_id = ? ORDER BY seq`).all(deviceId) as Row[]
  const byKey = new Map(rows.filter((r) => r.idempotency_key).map((r) => [r.idempotency_key!, r]))
  const logical = new Map<string, Attempt[]>()
  for (const a of history.attempts) logical.set(a.key, [...(logical.get(a.key) ?? []), a])

  let acked = 0
  let unanswered = 0
  for (const [key, attempts] of logical) {
    const ids = new Set(attempts.map((a) => a.response?.commandId).filter(Boolean))
    // I1: one key, one command: every answer names the same command.
    if (ids.size > 1) problem(`I1 ${key}: answers name ${ids.size} different commands`)
    const row = byKey.get(key)
    const ack = attempts.some((a) => a.status !== undefined && acknowledged.has(a.status))
    if (ack) acked++
    if (!attempts.some((a) => a.status !== undefined)) unanswered++
    // I1: an acknowledged command eventually has exactly one outcome.
    if (ack && !row) problem(`LOST ${key}: acknowledged but not in the inbox`)
    if (row && row.status === 'pending') problem(`I1 ${key}: still pending after the drain`)
    if (row && ids.size === 1 && !ids.has(row.command_id)) problem(`I1 ${key}: answered ${[...ids][0]}, inbox has ${row.command_id}`)
    for (const a of attempts) {
      if (!row || a.status === undefined) continue
      if ((a.status === 200 || a.status === 201) && row.status !== 'accepted') problem(`${key}: answered ${a.status} but the outcome is ${row.status}`)
      if ((a.status === 409 || a.status === 404) && (row.status !== 'rejected' || row.reason !== a.response?.reason)) {
        problem(`${key}: answered ${a.status} ${a.response?.reason} but the outcome is ${row.status} ${row.reason}`)
      }
    }
  }

  // I3 as the scanners saw it: a command sent after the previous one was answered comes after it.
  const byScanner = new Map<string, Attempt[]>()
  for (const a of history.attempts) byScanner.set(a.shipmentId, [...(byScanner.get(a.shipmentId) ?? []), a])
  for (const [shipmentId, attempts] of byScanner) {
    const firstAnswer = new Map<number, number>()
    for (const a of attempts) if (a.answeredAt !== undefined && a.status !== undefined && acknowledged.has(a.status)) firstAnswer.set(a.index, Math.min(firstAnswer.get(a.index) ?? Infinity, a.answeredAt))
    const keys = [...new Map(attempts.map((a) => [a.index, a.key])).entries()].sort((x, y) => x[0] - y[0])
    for (let i = 1; i < keys.length; i++) {
      const [prevIndex, prevKey] = keys[i - 1]!
      const [index, key] = keys[i]!
      if (prevKey === key) continue
      const prev = byKey.get(prevKey)
      const current = byKey.get(key)
      const sentAfter = attempts.filter((a) => a.index === index).map((a) => a.sentAt)
      if (prev && current && (firstAnswer.get(prevIndex) ?? Infinity) <= Math.min(...sentAfter) && prev.seq > current.seq) {
        problem(`I3 ${shipmentId}: ${key} was sent after ${prevKey} was answered but was taken in before it`)
      }
    }
  }

  // Oracle: each stream's inbox commands replayed in arrival order through the pure machine must give
  // exactly the recorded outcomes and exactly the recorded events (I2, I3, I4).
  const all = db.prepare('SELECT seq, command_id, stream_id, payload, idempotency_key, status, reason, event_position, stream_version FROM commands ORDER BY seq').all() as Row[]
  const eventsOf = db.prepare('SELECT position, version, type, json_extract(metadata, \'$.commandId\') AS command_id FROM events WHERE stream_id = ? ORDER BY version')
  const streams = new Map<string, Row[]>()
  for (const r of all) streams.set(r.stream_id, [...(streams.get(r.stream_id) ?? []), r])
  let accepted = 0
  let rejected = 0
  for (const [streamId, commands] of streams) {
    let snapshot: ShipmentSnapshot = initialSnapshot()
    const expected: Array<{ type: string; commandId: string }> = []
    for (const c of commands) {
      if (c.status === 'pending') continue
      if (c.reason === 'discarded') continue
      const decision = decide(snapshot, JSON.parse(c.payload) as ShipmentCommand)
      if (decision.outcome === 'accepted') {
        accepted++
        snapshot = decision.snapshot
        expected.push({ type: decision.event.type, commandId: c.command_id })
        if (c.status !== 'accepted') problem(`oracle ${streamId} seq ${c.seq}: the machine accepts it, the log says ${c.status} ${c.reason}`)
      } else {
        rejected++
        if (c.status !== 'rejected' || c.reason !== decision.reason) problem(`oracle ${streamId} seq ${c.seq}: the machine says ${decision.reason}, the log says ${c.status} ${c.reason}`)
      }
    }
    const events = eventsOf.all(streamId) as Array<{ position: number; version: number; type: string; command_id: string }>
    const actual = events.map((e) => ({ type: e.type, commandId: e.command_id }))
    if (JSON.stringify(actual) !== JSON.stringify(expected)) problem(`oracle ${streamId}: events ${JSON.stringify(actual)} ≠ expected ${JSON.stringify(expected)}`)
    events.forEach((e, i) => e.version !== i + 1 && problem(`I2 ${streamId}: version ${e.version} at place ${i + 1}`))
  }
  const duplicateEvents = db.prepare(`SELECT json_extract(metadata, '$.commandId') AS id, count(*) AS n FROM events GROUP BY id HAVING n > 1`).all()
  for (const d of duplicateEvents as Array<{ id: string; n: number }>) problem(`I1 command ${d.id} has ${d.n} events`)

  // I2 + I5 over the whole database; I7.
  for (const p of verify(storage).problems) problem(p)
  const integrity = db.pragma('integrity_check', { simple: true })
  if (integrity !== 'ok') problem(`I7 integrity_check: ${String(integrity)}`)

  const events = db.prepare('SELECT count(*) FROM events').pluck().get() as number
  return {
    problems,
    stats: { attempts: history.attempts.length, commands: logical.size, acknowledged: acked, unanswered, statuses, accepted, rejected, events },
  }
}
