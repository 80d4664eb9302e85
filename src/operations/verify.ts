import type { Statement } from 'better-sqlite3'
import type { Storage } from '../storage.js'
import { actorFacts, applyEvent, emptyActor, type Actor } from '../worker/actor.js'
import { shipmentFactsOfRow, type ShipmentRow } from '../projections/shipments.js'
import type { StoredEvent } from '../store/event-store.js'

/**
 * Checks the log's invariants over the whole database, one stream at a time in (stream, version)
 * order, through the pure machine:
 * - I2: every stream's versions are 1..n without gaps and form a valid path of the machine;
 * - I5: the state rehydrated from the log equals the `shipments` read model;
 * - I4 (partly): every accepted command points at an event of its stream; no rejected one does.
 */
export interface VerifyReport {
  readonly streams: number
  readonly events: number
  readonly problems: readonly string[]
}

export function verify(storage: Storage, onProgress?: (events: number) => void, maxProblems = 100): VerifyReport {
  const { db } = storage
  const problems: string[] = []
  const note = (problem: string) => {
    if (problems.length < maxProblems) problems.push(problem)
  }
  const projection = db.prepare('SELECT * FROM shipments WHERE shipment_id = ?') as Statement
  const events = db.prepare('SELECT position, stream_id, version, type, data, metadata, recorded_at FROM events ORDER BY stream_id, version')
  let streams = 0
  let count = 0
  let current = null as { id: string; actor: Actor; broken: boolean } | null
  const finish = () => {
    if (!current || current.broken) return
    const expected = actorFacts(current.id, current.actor)
    const row = projection.get(current.id) as ShipmentRow | undefined
    const actual = row && shipmentFactsOfRow(row)
    if (JSON.stringify(expected) !== JSON.stringify(actual)) {
      note(`I5 ${current.id}: log says ${JSON.stringify(expected)}, read model says ${JSON.stringify(actual)}`)
    }
  }
  for (const row of events.iterate() as Iterable<{ position: number; stream_id: string; version: number; type: string; data: string; metadata: string; recorded_at: number }>) {
    if (current?.id !== row.stream_id) {
      finish()
      current = { id: row.stream_id, actor: emptyActor, broken: false }
      streams++
    }
    count++
    if (count % 10000 === 0) onProgress?.(count)
    if (current.broken) continue
    if (row.version !== current.actor.version + 1) {
      note(`I2 ${row.stream_id}: version ${row.version} follows ${current.actor.version}`)
      current.broken = true
      continue
    }
    const event: StoredEvent = {
      position: row.position, streamId: row.stream_id, version: row.version, type: row.type,
      data: JSON.parse(row.data), metadata: JSON.parse(row.metadata), recordedAt: row.recorded_at,
    }
    try {
      current.actor = applyEvent(current.actor, event)
    } catch (error) {
      note(`I2 ${row.stream_id}: event ${row.version} (${row.type}) is not a valid transition: ${(error as Error).message}`)
      current.broken = true
    }
  }
  finish()
  onProgress?.(count)

  const orphanRows = db.prepare('SELECT shipment_id FROM shipments WHERE shipment_id NOT IN (SELECT DISTINCT stream_id FROM events) LIMIT 10').pluck().all() as string[]
  for (const id of orphanRows) note(`I5 ${id}: in the read model but has no events`)
  const badOutcomes = db
    .prepare(
      `SELECT c.command_id FROM commands c LEFT JOIN events e ON e.position = c.event_position
       WHERE (c.status = 'accepted' AND (e.position IS NULL OR e.stream_id <> c.stream_id OR e.version <> c.stream_version))
          OR (c.status = 'rejected' AND c.event_position IS NOT NULL) LIMIT 10`,
    )
    .pluck()
    .all() as string[]
  for (const id of badOutcomes) note(`I4 command ${id}: its outcome does not match the log`)
  return { streams, events: count, problems }
}
