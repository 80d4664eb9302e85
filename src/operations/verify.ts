import { idOfStream, kindOfStream } from '../../machines/kinds.js'
import type { ShipmentSnapshot } from '../../machines/shipment/index.js'
import type { TruckSnapshot } from '../../machines/truck/index.js'
import { applyEvent, emptyActor, type Actor } from '../projections/actors.js'
import { shipmentFacts, shipmentFactsOfRow, type ShipmentRow } from '../projections/shipments.js'
import { truckViewOfActor, truckViewOfRows, type TruckRow } from '../projections/trucks.js'
import type { Store } from '../store/store.js'

/**
 * Checks the log's invariants over the whole database, one stream at a time in (stream, version)
 * order, through the pure machines:
 * - I2: every stream's versions are 1..n without gaps and form a valid path of its kind's machine;
 * - I5: the state rehydrated from the log equals the read models (`shipments`, `trucks`);
 * - I4 (partly): every accepted scanner's command points at an event of its stream; no rejected one does;
 * - the trucks' rules across actors (T1–T3, for sagas that have ended — a saga still in flight is
 *   named, not counted):
 *   T1 an opened truck's manifest is exactly the shipments on it (assigned to it as an opened truck);
 *   T2 every shipment a departure shipped is on that departure's manifest, and every shipment on a
 *      manifest was shipped by that departure exactly once;
 *   T3 no shipment is assigned to a truck that has departed.
 */
export interface VerifyReport {
  readonly streams: number
  readonly events: number
  readonly problems: readonly string[]
  /** Sagas not finished when the check ran (their cross-actor rules are not judged yet). */
  readonly inFlight: number
}

interface ShipmentEnd {
  readonly state: string
  readonly truckId: string | null
  readonly onOpenTruck: boolean
}

export async function verify(store: Store, onProgress?: (events: number) => void, maxProblems = 100): Promise<VerifyReport> {
  const problems: string[] = []
  const note = (problem: string) => {
    if (problems.length < maxProblems) problems.push(problem)
  }
  let streams = 0
  let count = 0
  let current = null as { id: string; actor: Actor; broken: boolean } | null
  /** Shipments on an opened truck (or shipped by one), and every opened truck's manifest and departures. */
  const onTrucks = new Map<string, ShipmentEnd>()
  const shippedBy = new Map<string, Array<{ truckId: string; departure: string }>>()
  const trucks = new Map<string, { state: string; manifest: readonly string[]; departures: Array<{ departure: string; manifest: readonly string[] }> }>()

  const finish = async () => {
    if (!current || current.broken) return
    const { id, actor } = current
    if (actor.kind.name === 'shipment') {
      const expected = shipmentFacts(id, actor)
      const row = await store.sql.get<ShipmentRow>('SELECT * FROM shipments WHERE shipment_id = @id', { id })
      const actual = row && shipmentFactsOfRow(row)
      if (JSON.stringify(expected) !== JSON.stringify(actual)) note(`I5 ${id}: log says ${JSON.stringify(expected)}, read model says ${JSON.stringify(actual)}`)
      const { context } = actor.snapshot as ShipmentSnapshot
      if (context.onOpenTruck) onTrucks.set(id, { state: actor.kind.stateOf(actor.snapshot), truckId: context.truckId, onOpenTruck: true })
    } else {
      const truckId = idOfStream(id)
      const expected = truckViewOfActor(truckId, actor)
      const row = await store.sql.get<TruckRow>('SELECT * FROM trucks WHERE truck_id = @id', { id: truckId })
      const loads = await store.sql.all<{ shipment_id: string; reserved: number }>('SELECT shipment_id, reserved FROM truck_loads WHERE truck_id = @id ORDER BY since', { id: truckId })
      const actual = row && truckViewOfRows(row, loads)
      if (JSON.stringify(expected) !== JSON.stringify(actual)) note(`I5 ${id}: log says ${JSON.stringify(expected)}, read model says ${JSON.stringify(actual)}`)
      const entry = trucks.get(truckId)
      const snapshot = actor.snapshot as TruckSnapshot
      trucks.set(truckId, { state: actor.kind.stateOf(snapshot), manifest: snapshot.context.manifest, departures: entry?.departures ?? [] })
    }
  }
  for await (const event of store.events.byStream()) {
    if (current?.id !== event.streamId) {
      await finish()
      current = { id: event.streamId, actor: emptyActor(kindOfStream(event.streamId)), broken: false }
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
      continue
    }
    const data = event.data as { truckId?: string; byDeparture?: boolean; manifest?: readonly string[] }
    if (event.type === 'ShipmentShipped' && data.byDeparture) {
      const list = shippedBy.get(event.streamId) ?? []
      list.push({ truckId: data.truckId ?? '', departure: String(event.metadata.causationId) })
      shippedBy.set(event.streamId, list)
    }
    if (event.type === 'TruckDeparted') {
      const truckId = idOfStream(event.streamId)
      const entry = trucks.get(truckId) ?? { state: 'departed', manifest: [], departures: [] }
      entry.departures.push({ departure: String(event.metadata.commandId), manifest: data.manifest ?? [] })
      trucks.set(truckId, entry)
    }
  }
  await finish()
  onProgress?.(count)

  // Sagas still in flight: a stream waiting for an answer, or a message not decided yet.
  const waiting = new Set((await store.sql.all<{ stream_id: string }>('SELECT stream_id FROM waits')).map((r) => r.stream_id))
  const messages = await store.sql.all<{ stream_id: string; metadata: string }>(`SELECT stream_id, metadata FROM commands WHERE status = 'pending' AND metadata LIKE '%"origin":"saga"%'`)
  for (const m of messages) waiting.add(m.stream_id)
  const settled = (...streamIds: string[]) => streamIds.every((s) => !waiting.has(s))
  // T1: an opened truck's manifest is exactly the shipments assigned to it as an opened truck.
  for (const [truckId, truck] of trucks) {
    if (truck.state !== 'loading' || !settled(`truck:${truckId}`)) continue
    const assigned = [...onTrucks].filter(([, s]) => s.state === 'assigned' && s.truckId === truckId).map(([id]) => id).sort()
    const manifest = [...truck.manifest].sort()
    if (JSON.stringify(assigned) !== JSON.stringify(manifest) && settled(...assigned, ...manifest)) {
      note(`T1 truck ${truckId}: manifest ${JSON.stringify(manifest)}, shipments assigned to it ${JSON.stringify(assigned)}`)
    }
  }
  // T2: departures and the shipments they shipped, both ways, exactly once.
  const departureManifest = new Map([...trucks].flatMap(([truckId, t]) => t.departures.map((d) => [d.departure, { truckId, manifest: d.manifest }] as const)))
  for (const [shipmentId, list] of shippedBy) {
    if (list.length > 1) note(`T2 ${shipmentId}: shipped ${list.length} times by departures (${list.map((l) => l.departure).join(', ')})`)
    for (const { truckId, departure } of list) {
      const known = departureManifest.get(departure)
      if (!known || known.truckId !== truckId || !known.manifest.includes(shipmentId)) note(`T2 ${shipmentId}: shipped by departure ${departure} of truck ${truckId}, but is not on its manifest`)
    }
  }
  for (const [departure, { truckId, manifest }] of departureManifest) {
    for (const shipmentId of manifest) {
      const shipped = (shippedBy.get(shipmentId) ?? []).filter((s) => s.departure === departure).length
      if (shipped !== 1 && settled(shipmentId)) note(`T2 ${shipmentId}: on the manifest of departure ${departure} of truck ${truckId}, shipped by it ${shipped} times`)
    }
  }
  // T3: no shipment assigned to a truck that has departed.
  for (const [shipmentId, s] of onTrucks) {
    const truck = s.truckId === null ? undefined : trucks.get(s.truckId)
    if (s.state === 'assigned' && truck?.state === 'departed' && settled(shipmentId)) note(`T3 ${shipmentId}: assigned to truck ${s.truckId}, which has departed without it`)
  }

  const orphans = await store.sql.all<{ id: string }>(
    'SELECT shipment_id AS id FROM shipments s WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.stream_id = s.shipment_id) LIMIT 10',
  )
  for (const { id } of orphans) note(`I5 ${id}: in the read model but has no events`)
  // An accepted scanner's command recorded an event of its stream; a message between actors may
  // have been accepted without one (an answer passed on, a place that was already free).
  const badOutcomes = await store.sql.all<{ id: string }>(
    `SELECT c.command_id AS id FROM commands c LEFT JOIN events e ON e.position = c.event_position
     WHERE ((c.status = 'accepted' AND (e.position IS NULL OR e.stream_id <> c.stream_id OR e.version <> c.stream_version))
        OR (c.status = 'rejected' AND c.event_position IS NOT NULL))
       AND c.metadata NOT LIKE '%"origin":"saga"%' LIMIT 10`,
  )
  for (const { id } of badOutcomes) note(`I4 command ${id}: its outcome does not match the log`)
  return { streams, events: count, problems, inFlight: new Set(waiting).size }
}
