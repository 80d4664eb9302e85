import type { Storage } from '../../src/storage.js'

/**
 * The simulator's own checks, beside the history checker (test/helpers/history.ts) and `verify`:
 *
 * - FEED      the event feed never skips: a consumer that followed it across process deaths was
 *             delivered every event, in position order, once;
 * - CAPACITY  no opened truck ever held more shipments (on it or reserved) than its capacity;
 * - SEQ       per-stream arrival order: a stream's commands that wait their turn (all but the saga's
 *             bypass messages) are decided in `seq` order — none decided at a version after a later
 *             one's event.

 *
 * Two bugs this found in the core (a message overtaking a command queued behind a saga wait; an
 * UNLOAD answered after its truck had left with the shipment and come back) are fixed, each with a
 * deterministic test of its own (test/decisions/sagas.test.ts): SEQ and `verify` T2 would name them.
 */
/** The feed never skips: what the consumer was delivered is every event, in position order, once. */
export async function feedProblems(storage: Storage, delivered: readonly number[]): Promise<string[]> {
  const problems: string[] = []
  for (let i = 1; i < delivered.length; i++) {
    if (delivered[i]! <= delivered[i - 1]!) {
      problems.push(`FEED position ${delivered[i]} delivered after ${delivered[i - 1]} (repeated or out of order)`)
      break
    }
  }
  const all = (await storage.store.sql.all<{ position: number }>('SELECT position FROM events ORDER BY position')).map((r) => r.position)
  const got = new Set(delivered)
  const last = delivered.at(-1) ?? 0
  const skipped = all.filter((p) => p <= last && !got.has(p))
  if (skipped.length > 0) problems.push(`FEED skipped positions ${skipped.slice(0, 5).join(', ')} (delivered up to ${last})`)
  if (last < (all.at(-1) ?? 0)) problems.push(`FEED the consumer stopped at ${last}, the log goes to ${all.at(-1)}`)
  return problems
}

/** Capacity: no opened truck ever held more shipments (on it or reserved) than its capacity. */
export async function capacityProblems(storage: Storage): Promise<string[]> {
  const problems: string[] = []
  const trucks = new Map<string, { capacity: number | null; load: Set<string> }>()
  for (const e of await storage.store.sql.all<{ stream_id: string; version: number; type: string; data: string }>(
    `SELECT stream_id, version, type, data FROM events WHERE stream_id LIKE 'truck:%' ORDER BY stream_id, version`,
  )) {
    const data = JSON.parse(e.data) as { capacity?: number | null; shipmentId?: string }
    const truck = trucks.get(e.stream_id) ?? { capacity: null, load: new Set<string>() }
    trucks.set(e.stream_id, truck)
    if (e.type === 'TruckOpened') truck.capacity = data.capacity ?? null
    else if (e.type === 'ShipmentLoaded') truck.load.add(data.shipmentId!)
    else if (e.type === 'ShipmentUnloaded' || e.type === 'LoadReleased') truck.load.delete(data.shipmentId!)
    else if (e.type === 'TruckReturned') truck.load.clear()
    if (truck.capacity !== null && truck.load.size > truck.capacity) problems.push(`CAPACITY ${e.stream_id} v${e.version}: ${truck.load.size} shipments for ${truck.capacity} places`)
  }
  return problems
}

interface Decided {
  seq: number
  command_id: string
  stream_id: string
  type: string
  status: string
  stream_version: number | null
  event_position: number | null
  saga: number
}

/** Per-stream arrival order (SEQ). */
export async function orderProblems(storage: Storage): Promise<string[]> {
  const rows = await storage.store.sql.all<Decided>(
    `SELECT seq, command_id, stream_id, type, status, stream_version, event_position, json_extract(metadata, '$.origin') = 'saga' AS saga
     FROM commands WHERE status <> 'pending' AND coalesce(reason, '') <> 'discarded' AND bypass = 0 ORDER BY stream_id, seq`,
  )
  const problems: string[] = []
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1]!
    const b = rows[i]!
    if (a.stream_id !== b.stream_id || a.stream_version === null || b.stream_version === null) continue
    const overtaken = a.stream_version > b.stream_version || (b.event_position !== null && a.stream_version >= b.stream_version)
    if (!overtaken) continue
    problems.push(`SEQ ${a.stream_id}: seq ${a.seq} (${a.type}) was decided at version ${a.stream_version}, after seq ${b.seq} (${b.type}${b.saga ? ', a message' : ''}) at version ${b.stream_version}`)
  }
  return problems
}
