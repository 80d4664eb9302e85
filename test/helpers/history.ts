import { canonicalJson } from '../../src/commands/intake.js'
import { verify } from '../../src/operations/verify.js'
import type { Storage } from '../../src/storage.js'
import { replayOracle, type OracleRow, type Verdict } from './oracle.js'

/**
 * A Jepsen-style history: every request a simulated scanner made — what it sent (shipment, key, body),
 * when it was sent and answered, and the whole answer (a status and body, or nothing: connection
 * refused/reset, timeout). `checkHistory` checks what the clients saw against the database and against
 * an oracle that replays the inbox, in arrival order, through the pure machines and a model of the
 * trucks' saga (oracle.ts):
 *
 * - LOST       an acknowledged key has no inbox row
 * - DUPLICATE  one key became more than one command (answers naming several, or several rows)
 * - MISMATCH   the inbox row of a key holds another shipment or payload than the request sent
 * - ORPHAN     an inbox row, from any device, no acknowledged request accounts for (a test's own
 *              set-up commands go into the history too: see `sendRecorded` in scanners.ts)
 * - OUTCOME    the recorded outcome (accepted/rejected + reason) is not the oracle's
 * - ANSWER     a 200/201/404/409 body (outcome, reason, state, version, truck, allowed, event) is not the
 *              oracle's; likewise a decided answer polled on `GET /commands/{id}` after a 202 (outcome,
 *              reason, event; a rejection's state, version, truck and allowed), and a poll that names
 *              another command or answers 404 for the command the 202 named
 * - EVENT      a stream's events (command, type, data) are not the oracle's
 * - SAGA       a message between actors missing, unexpected or not what the rules send; an ASSIGN
 *              decided at once for a truck that was already opened
 * - ORDER      A was answered before B was sent (same shipment), yet B was taken in before A
 * - PENDING    an acknowledged command is still undecided after the drain
 * - LATE       a rejection's `late` flag is not what its scan time and the stream's last change say
 * - I2/I4/I5/I6/I7 as in docs/invariants.md and `verify` (versions and path, outcomes vs log, rehydration vs
 *   read model, no 5xx, integrity)
 *
 * Each problem is a string starting with its kind, so tests assert which kind a fault produces.
 */
export interface Attempt {
  /** The simulated device (several may work on one shipment at once). */
  readonly scannerId: string
  /** The shipment (or, with `streamId`, the truck) the command was sent to. */
  readonly shipmentId: string
  /** The stream, when not the shipment's: `truck:<id>` for a truck's command. */
  readonly streamId?: string
  readonly key: string
  /** Position of the logical command in its scanner's sequence. */
  readonly index: number
  readonly body: { readonly type: string; readonly scannedAt?: string; readonly operatorId?: string; readonly [field: string]: unknown }
  readonly attempt: number
  readonly sentAt: number
  answeredAt?: number
  status?: number
  response?: AnswerBody
  error?: string
  /** After a 202: each answered `GET /commands/{id}` for the command it named, in order. */
  polls?: Poll[]
}

/** One answered poll of a queued command. */
export interface Poll {
  readonly sentAt: number
  readonly answeredAt: number
  readonly status: number
  readonly response: AnswerBody
}

export interface AnswerBody {
  commandId?: string
  outcome?: string
  reason?: string
  shipment?: { state: string; version: number; truckId: string | null; allowed: string[] }
  truck?: { state: string; version: number; manifest: string[]; allowed: string[] }
  allowed?: string[]
  event?: { type: string; version: number }
  [k: string]: unknown
}

let last = 0
/**
 * The clients' clock: milliseconds, high resolution and strictly increasing within the test process,
 * so that "A was answered before B was sent" is never lost to two events in the same millisecond.
 * `sentAt` is taken before a request leaves and `answeredAt` after its body arrived: both err on the
 * safe side (an order the checker demands is one the clients really saw).
 */
export function clientClock(): number {
  last = Math.max(performance.timeOrigin + performance.now(), last + 0.001)
  return last
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
const decidedAnswer = new Set([200, 201, 404, 409])

export type ProblemKind = 'LOST' | 'DUPLICATE' | 'MISMATCH' | 'ORPHAN' | 'OUTCOME' | 'ANSWER' | 'EVENT' | 'SAGA' | 'ORDER' | 'PENDING' | 'LATE' | 'I2' | 'I3' | 'I4' | 'I5' | 'I6' | 'I7' | 'T1' | 'T2' | 'T3'

export interface CheckResult {
  readonly problems: string[]
  /** How many problems of each kind (all of them, also beyond the first 200 listed). */
  readonly kinds: Partial<Record<ProblemKind, number>>
  readonly stats: {
    attempts: number
    commands: number
    scanners: number
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
  type: string
  payload: string
  metadata: string
  device_id: string
  idempotency_key: string | null
  device_seq: number | null
  status: string
  reason: string | null
  event_position: number | null
  stream_version: number | null
  late: number
}

/** The key of an offline batch's item in a history: its device and seq (what makes it idempotent). */
export const seqKey = (deviceId: string, seq: number) => `seq:${deviceId}:${seq}`

/** What a row is found by: the Idempotency-Key of a single request, or the device and seq of a batch item. */
const keyOf = (r: Row) => r.idempotency_key ?? (r.device_seq === null ? null : seqKey(r.device_id, r.device_seq))

const streamOf = (a: Pick<Attempt, 'shipmentId' | 'streamId'>) => a.streamId ?? a.shipmentId

const sameJson = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b)

/**
 * Checks the history against the database and the oracle. Every command in the inbox, whichever
 * device sent it, must be accounted for by a request in the history: a test records its set-up
 * commands too.
 */
export async function checkHistory(storage: Storage, history: History): Promise<CheckResult> {
  const problems: string[] = []
  const kinds: Partial<Record<ProblemKind, number>> = {}
  const problem = (kind: ProblemKind, text: string) => {
    kinds[kind] = (kinds[kind] ?? 0) + 1
    if (problems.length < 200) problems.push(`${kind} ${text}`)
  }
  const { sql } = storage.store
  const statuses: Record<string, number> = {}
  for (const a of history.attempts) {
    const s = a.status === undefined ? `no answer (${a.error ?? '?'})` : String(a.status)
    statuses[s] = (statuses[s] ?? 0) + 1
    // I6: a valid request never produces a 5xx other than 503 (back-pressure / unavailable), nor a 4xx of bad input.
    if (a.status !== undefined && a.status >= 500 && a.status !== 503) problem('I6', `${a.key}: status ${a.status}`)
    if (a.status !== undefined && [400, 415, 422].includes(a.status)) problem('I6', `${a.key}: a valid request got ${a.status}`)
  }

  const all = await sql.all<Row>('SELECT seq, command_id, stream_id, type, payload, metadata, device_id, idempotency_key, device_seq, status, reason, event_position, stream_version, late FROM commands ORDER BY seq')
  const metadataOf = new Map(all.map((r) => [r.command_id, JSON.parse(r.metadata) as { origin?: string; causationId?: string }]))
  const isMessage = (r: Row) => metadataOf.get(r.command_id)?.origin === 'saga'
  const rows = all.filter((r) => !isMessage(r))
  const byId = new Map(all.map((r) => [r.command_id, r]))
  const rowsByKey = new Map<string, Row[]>()
  for (const r of rows) {
    const key = keyOf(r)
    if (key !== null) rowsByKey.set(key, [...(rowsByKey.get(key) ?? []), r])
  }

  // The oracle: each stream's inbox rows, in arrival order, through the machines and the saga model.
  const openedAt = new Map(
    (await sql.all<{ stream_id: string; position: number }>(`SELECT stream_id, min(position) AS position FROM events WHERE type = 'TruckOpened' GROUP BY stream_id`)).map((r) => [
      r.stream_id.slice('truck:'.length),
      r.position,
    ]),
  )
  const oracle = replayOracle(
    all.map((r): OracleRow => {
      const meta = metadataOf.get(r.command_id)!
      let payload: Record<string, unknown>
      try {
        payload = JSON.parse(r.payload) as Record<string, unknown>
      } catch {
        payload = { type: r.type }
      }
      return { seq: r.seq, commandId: r.command_id, streamId: r.stream_id, type: r.type, payload, origin: meta.origin === 'saga' ? 'saga' : null, causationId: meta.causationId ?? null, status: r.status, reason: r.reason, eventPosition: r.event_position }
    }),
    openedAt,
  )
  const verdicts = oracle.verdicts
  for (const p of oracle.problems) problem('SAGA', p)
  let accepted = 0
  let rejected = 0
  for (const r of all) {
    if (r.reason === 'discarded') continue
    if (oracle.undecided.has(r.command_id)) {
      if (r.status !== 'pending') problem('OUTCOME', `${r.stream_id} seq ${r.seq} (${r.command_id}): decided ${r.status}, but by the rules it waits (behind a saga)`)
      continue
    }
    const verdict = verdicts.get(r.command_id)
    if (!verdict) {
      if (r.status !== 'pending') problem('OUTCOME', `${r.stream_id} seq ${r.seq} (${r.command_id}): decided ${r.status}, the oracle has no verdict`)
      continue
    }
    if (!isMessage(r)) verdict.outcome === 'accepted' ? accepted++ : rejected++
    if (r.status === 'pending') continue // PENDING is reported per acknowledged key below
    if (r.status !== verdict.outcome || (verdict.outcome === 'rejected' && r.reason !== verdict.reason)) {
      problem('OUTCOME', `${r.stream_id} seq ${r.seq} (${r.command_id}): the oracle says ${verdict.outcome}${verdict.reason ? ` ${verdict.reason}` : ''}, the log says ${r.status}${r.reason ? ` ${r.reason}` : ''}`)
    }
  }

  // Messages between actors: exactly those the rules send, with what they say.
  for (const [id, message] of oracle.messages) {
    const row = byId.get(id)
    if (!row) problem('SAGA', `message ${id} to ${message.streamId} was never sent (${JSON.stringify(message.payload)})`)
    else if (row.stream_id !== message.streamId || !sameJson(JSON.parse(row.payload), message.payload)) {
      problem('SAGA', `message ${id}: sent to ${row.stream_id} ${row.payload}, the rules send ${message.streamId} ${JSON.stringify(message.payload)}`)
    }
  }
  for (const r of all) if (isMessage(r) && !oracle.messages.has(r.command_id)) problem('SAGA', `message ${r.command_id} to ${r.stream_id} (${r.type}) was sent, but no decision sends it`)

  // Events: command, type and data, one by one, against the oracle.
  const logged = new Map<string, Array<{ version: number; type: string; data: string; command_id: string }>>()
  for (const e of await sql.all<{ stream_id: string; version: number; type: string; data: string; metadata: string }>('SELECT stream_id, version, type, data, metadata FROM events ORDER BY stream_id, version')) {
    logged.set(e.stream_id, [...(logged.get(e.stream_id) ?? []), { version: e.version, type: e.type, data: e.data, command_id: (JSON.parse(e.metadata) as { commandId: string }).commandId }])
  }
  const streamIds = new Set([...oracle.events.keys(), ...logged.keys()])
  for (const streamId of streamIds) {
    const events = logged.get(streamId) ?? []
    const expected = oracle.events.get(streamId) ?? []
    for (let i = 0; i < Math.max(events.length, expected.length); i++) {
      const actual = events[i]
      const wanted = expected[i]
      if (actual && actual.version !== i + 1) problem('I2', `${streamId}: version ${actual.version} at place ${i + 1}`)
      const seen = actual && { commandId: actual.command_id, type: actual.type, data: JSON.parse(actual.data) as unknown }
      if (!sameJson(seen ?? null, wanted ?? null)) problem('EVENT', `${streamId} v${i + 1}: ${JSON.stringify(seen ?? null)} ≠ the oracle's ${JSON.stringify(wanted ?? null)}`)
    }
  }

  // What each client was told, key by key.
  const logical = new Map<string, Attempt[]>()
  for (const a of history.attempts) logical.set(a.key, [...(logical.get(a.key) ?? []), a])
  const accounted = new Set<string>()
  const firstAck = new Map<string, number>()
  const rowOfKey = new Map<string, Row>()
  let acked = 0
  let unanswered = 0
  for (const [key, attempts] of logical) {
    const first = attempts[0]!
    const ack = attempts.filter((a) => a.status !== undefined && acknowledged.has(a.status))
    if (!attempts.some((a) => a.status !== undefined)) unanswered++
    if (ack.length === 0) {
      // Never acknowledged (only 503s or no answer): it may or may not have been taken in; a row it
      // left still belongs to it.
      for (const r of rowsByKey.get(key) ?? []) accounted.add(r.command_id)
      continue
    }
    acked++
    firstAck.set(key, Math.min(...ack.map((a) => a.answeredAt!)))
    const named = new Set(ack.map((a) => a.response?.commandId).filter((id): id is string => typeof id === 'string'))
    const candidates = new Map<string, Row>()
    for (const r of rowsByKey.get(key) ?? []) candidates.set(r.command_id, r)
    for (const id of named) {
      const r = byId.get(id)
      if (r) candidates.set(id, r)
    }
    for (const id of candidates.keys()) accounted.add(id)
    if (named.size > 1) problem('DUPLICATE', `${key}: the answers name ${named.size} different commands (${[...named].join(', ')})`)
    if (candidates.size === 0) {
      problem('LOST', `${key}: acknowledged (${ack.map((a) => a.status).join(',')}) but not in the inbox`)
      continue
    }
    if (candidates.size > 1) problem('DUPLICATE', `${key}: ${candidates.size} inbox rows (${[...candidates.keys()].join(', ')})`)
    const row = [...candidates.values()][0]!
    rowOfKey.set(key, row)
    for (const id of named) if (!candidates.has(id)) problem('LOST', `${key}: answered with command ${id}, which is not in the inbox`)
    const { scannedAt: _s, operatorId: _o, ...payload } = first.body
    if (row.stream_id !== streamOf(first)) problem('MISMATCH', `${key}: sent to ${streamOf(first)}, the inbox row is for ${row.stream_id}`)
    if (!sameJson(JSON.parse(row.payload), payload)) problem('MISMATCH', `${key}: sent ${JSON.stringify(payload)}, the inbox holds ${row.payload}`)
    if (row.status === 'pending' && !oracle.undecided.has(row.command_id)) {
      problem('PENDING', `${key}: still pending after the drain`)
      continue
    }
    const verdict = verdicts.get(row.command_id)
    if (!verdict) continue // discarded by an admin
    for (const a of ack) {
      if (a.status === undefined || !decidedAnswer.has(a.status)) continue
      const told = told_(a)
      const truth = oracleAnswer(verdict)
      if (!sameJson(told, truth)) problem('ANSWER', `${key} (${row.command_id}): answered ${a.status} ${JSON.stringify(told)}, the oracle says ${JSON.stringify(truth)}`)
    }
    // A 202 followed up on GET /commands/{id}: each decided answer is judged like a synchronous one.
    for (const a of ack) {
      for (const p of a.polls ?? []) {
        if (p.status === 404) problem('ANSWER', `${key} (${row.command_id}): polled 404 for the command its 202 named`)
        if (p.status !== 200) continue
        if (p.response.commandId !== a.response?.commandId) problem('ANSWER', `${key}: the 202 named ${a.response?.commandId}, the poll answered ${p.response.commandId}`)
        if (p.response.outcome === 'queued') continue
        const told = polledTold(p.response)
        const truth = polledTruth(verdict)
        if (!sameJson(told, truth)) problem('ANSWER', `${key} (${row.command_id}): polled ${JSON.stringify(told)}, the oracle says ${JSON.stringify(truth)}`)
      }
    }
  }
  for (const r of rows) if (!accounted.has(r.command_id)) problem('ORPHAN', `${r.stream_id} seq ${r.seq} (${r.command_id}, key ${keyOf(r)}): no acknowledged request accounts for it`)

  // Late scans: a rejection is late exactly when it was scanned before the change the stream had last accepted.
  const recordedAt = new Map(
    (await sql.all<{ stream_id: string; version: number; recorded_at: number }>('SELECT stream_id, version, recorded_at FROM events')).map((e) => [`${e.stream_id}#${e.version}`, Number(e.recorded_at)]),
  )
  for (const r of all) {
    if (r.status === 'pending') continue
    const scannedAt = (JSON.parse(r.metadata) as { scannedAt?: string }).scannedAt
    const last = r.stream_version ? recordedAt.get(`${r.stream_id}#${r.stream_version}`) : undefined
    const late = r.status === 'rejected' && scannedAt !== undefined && last !== undefined && Date.parse(scannedAt) < last
    if (late !== (r.late === 1)) problem('LATE', `${r.stream_id} seq ${r.seq} (${r.command_id}): late is ${r.late === 1}, scanned ${scannedAt ?? '(no time)'} and the stream last changed ${last === undefined ? 'never' : new Date(last).toISOString()}`)
  }

  // Real-time order per shipment, across all its scanners: if A was answered before B was first sent,
  // A was taken in (and so decided) before B.
  const byShipment = new Map<string, Array<{ key: string; sentAt: number; answeredAt: number | undefined; seq: number }>>()
  for (const [key, attempts] of logical) {
    const row = rowOfKey.get(key)
    if (!row) continue
    const entry = { key, sentAt: Math.min(...attempts.map((a) => a.sentAt)), answeredAt: firstAck.get(key), seq: row.seq }
    byShipment.set(streamOf(attempts[0]!), [...(byShipment.get(streamOf(attempts[0]!)) ?? []), entry])
  }
  for (const [shipmentId, entries] of byShipment) {
    const answered = entries.filter((e) => e.answeredAt !== undefined).sort((x, y) => x.answeredAt! - y.answeredAt!)
    for (const b of entries) {
      for (const a of answered) {
        if (a.answeredAt! >= b.sentAt) break
        if (a.key !== b.key && a.seq > b.seq) problem('ORDER', `${shipmentId}: ${b.key} was sent after ${a.key} was answered, yet was taken in before it`)
      }
    }
  }

  // I2 + I5 over the whole database; I7.
  for (const p of (await verify(storage.store)).problems) {
    const kind = (/^(I[2-5]|T[1-3])/.exec(p)?.[0] ?? 'I5') as ProblemKind
    problem(kind, p.replace(/^I\d /, ''))
  }
  if (storage.store.dialect === 'sqlite') {
    const integrity = (await sql.get<{ integrity_check: string }>('PRAGMA integrity_check'))?.integrity_check
    if (integrity !== 'ok') problem('I7', `integrity_check: ${String(integrity)}`)
  }

  const events = (await sql.get<{ n: number }>('SELECT count(*) AS n FROM events'))!.n
  return {
    problems,
    kinds,
    stats: {
      attempts: history.attempts.length,
      commands: logical.size,
      scanners: new Set(history.attempts.map((a) => a.scannerId)).size,
      acknowledged: acked,
      unanswered,
      statuses,
      accepted,
      rejected,
      events,
    },
  }
}

/** The shipment's or truck's facts an answer carries (the oracle's view), or null. */
function viewIn(body: AnswerBody): { state: string; version: number; truckId?: string | null; manifest?: string[]; allowed: string[] } | null {
  return body.shipment
    ? { state: body.shipment.state, version: body.shipment.version, truckId: body.shipment.truckId, allowed: body.shipment.allowed }
    : body.truck
      ? { state: body.truck.state, version: body.truck.version, manifest: body.truck.manifest, allowed: body.truck.allowed }
      : null
}

/** The fields of an answer the oracle can tell: outcome, reason, the shipment's or truck's facts, allowed, event. */
function told_(a: Attempt): unknown {
  const body: AnswerBody = a.response ?? {}
  const view = viewIn(body)
  if (a.status === 200 || a.status === 201) {
    return { outcome: body.outcome ?? null, reason: null, view, allowed: view?.allowed ?? null, event: body.event ? { type: body.event.type, version: body.event.version } : null }
  }
  return { outcome: body.outcome ?? null, reason: body.reason ?? null, view, allowed: a.status === 404 ? null : (body.allowed ?? null), event: null }
}

function oracleAnswer(v: Verdict): unknown {
  const view = v.view && { ...v.view, allowed: [...v.view.allowed] }
  if (v.outcome === 'accepted') return { outcome: 'accepted', reason: null, view, allowed: view?.allowed ?? null, event: { type: v.event!.type, version: v.event!.version } }
  // A 404 (an unknown shipment or truck) carries neither the aggregate nor allowed.
  if (v.view === null) return { outcome: 'rejected', reason: v.reason, view: null, allowed: null, event: null }
  return { outcome: 'rejected', reason: v.reason, view, allowed: v.allowed, event: null }
}

/**
 * A decided command as `GET /commands/{id}` reports it: outcome, reason and event; a rejection also
 * carries the shipment (or truck) when it was refused and what it allowed, as its 409 does.
 */
function polledTold(body: AnswerBody): unknown {
  return { outcome: body.outcome ?? null, reason: body.reason ?? null, view: viewIn(body), allowed: body.allowed ?? null, event: body.event ? { type: body.event.type, version: body.event.version } : null }
}

function polledTruth(v: Verdict): unknown {
  if (v.outcome === 'accepted') return { outcome: 'accepted', reason: null, view: null, allowed: null, event: { type: v.event!.type, version: v.event!.version } }
  return oracleAnswer(v)
}
