import type { Statement } from 'better-sqlite3'
import type { Storage } from '../storage.js'
import { actorFacts, applyEvent, emptyActor, type Actor } from '../worker/actor.js'
import { shipmentFactsOfRow, type ShipmentRow } from '../projections/shipments.js'

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
  for (const event of storage.store.byStream()) {
    if (current?.id !== event.streamId) {
      finish()
      current = { id: event.streamId, actor: emptyActor, broken: false }
      streams++
    }
    count++
    if (count % 10000 === 0) onProgress?.(count)
    if (current.broken) continue
    if (event.version !== current.actor.version + 1) {
      note(`I2 ${event.streamId}: version ${event.version} follows ${current.actor.version}`)
      current.broken = true
      continue
    }
    try {
      current.actor = applyEvent(current.actor, event)
    } catch (error) {
      note(`I2 ${event.streamId}: event ${event.version} (${event.type}) is not a valid transition: ${(error as Error).message}`)
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
