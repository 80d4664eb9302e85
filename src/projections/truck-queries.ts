import { truckStream } from '../../machines/kinds.js'
import type { Store } from '../store/store.js'
import { hydrateUntil } from './actors.js'
import { truckViewOfActor, truckViewOfRows, type TruckRow, type TruckView } from './trucks.js'

/** Reads of trucks for the API: now from the read model, as they were from the log. */
export class TruckQueries {
  constructor(private readonly store: Store) {}

  async #loads(truckIds: readonly string[]): Promise<Map<string, Array<{ shipment_id: string; reserved: number }>>> {
    const byTruck = new Map<string, Array<{ shipment_id: string; reserved: number }>>(truckIds.map((id) => [id, []]))
    if (truckIds.length === 0) return byTruck
    const rows = await this.store.sql.all<{ truck_id: string; shipment_id: string; reserved: number }>(
      `SELECT truck_id, shipment_id, reserved FROM truck_loads WHERE truck_id IN (${truckIds.map((_, i) => `@t${i}`).join(', ')}) ORDER BY truck_id, since`,
      Object.fromEntries(truckIds.map((id, i) => [`t${i}`, id])),
    )
    for (const row of rows) byTruck.get(row.truck_id)?.push(row)
    return byTruck
  }

  async get(truckId: string): Promise<TruckView | undefined> {
    const row = await this.store.sql.get<TruckRow>('SELECT * FROM trucks WHERE truck_id = @id', { id: truckId })
    return row && truckViewOfRows(row, (await this.#loads([truckId])).get(truckId)!)
  }

  /** Time travel: the truck after its `version`-th event and/or as it was at `at` (a checkpoint plus a bounded tail). */
  async at(truckId: string, until: { version?: number; at?: number }): Promise<TruckView | undefined> {
    return truckViewOfActor(truckId, await hydrateUntil(this.store.events, truckStream(truckId), until)) ?? undefined
  }

  async list(filter: { state?: string; limit: number; after?: string }): Promise<{ items: TruckView[]; next: string | null }> {
    const rows = await this.store.sql.all<TruckRow>(
      `SELECT * FROM trucks WHERE (CAST(@state AS TEXT) IS NULL OR state = @state) AND truck_id > @after ORDER BY truck_id LIMIT @limit`,
      { state: filter.state ?? null, after: filter.after ?? '', limit: filter.limit + 1 },
    )
    const page = rows.slice(0, filter.limit)
    const loads = await this.#loads(page.map((r) => r.truck_id))
    return { items: page.map((row) => truckViewOfRows(row, loads.get(row.truck_id)!)), next: rows.length > filter.limit ? page[page.length - 1]!.truck_id : null }
  }
}
