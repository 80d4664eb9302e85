import { truckAllowed, truckAllowedFor, truckDecider, truckKind, type TruckClientCommandType, type TruckEvent, type TruckSnapshot } from '../../machines/truck/index.js'
import type { Projection, ProjectionWrite } from '../store/projection.js'
import type { StoredEvent } from '../store/types.js'
import type { Actor } from './actors.js'

/**
 * The `trucks` read model: one row per truck as of its last event, and `truck_loads`, the shipments
 * on it (`reserved` while a place is only held). While a truck is departed its loads are the
 * shipments that left with it; RETURN empties it. Pure like every projection: computed from the
 * event and this projection's own rows.
 */
type Statement = 'open' | 'move' | 'load' | 'unload' | 'confirm' | 'empty'

const isTruck = (event: StoredEvent) => event.streamId.startsWith(truckKind.prefix)

export const trucksProjection: Projection<Statement> = {
  name: 'trucks',
  tables: ['trucks', 'truck_loads'],
  migrations: [
    {
      id: 'projections/4-trucks',
      sqlite: `
        CREATE TABLE trucks (
          truck_id     TEXT    PRIMARY KEY,
          state        TEXT    NOT NULL,
          version      INTEGER NOT NULL,
          capacity     INTEGER,
          destination  TEXT,
          opened_at    INTEGER NOT NULL,
          updated_at   INTEGER NOT NULL,
          departed_at  INTEGER,
          departures   INTEGER NOT NULL DEFAULT 0,
          last_position INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX trucks_by_state ON trucks (state, truck_id);
        CREATE TABLE truck_loads (
          truck_id    TEXT    NOT NULL,
          shipment_id TEXT    NOT NULL,
          reserved    INTEGER NOT NULL,
          since       INTEGER NOT NULL,
          PRIMARY KEY (truck_id, shipment_id)
        ) WITHOUT ROWID;
      `,
      postgres: `
        CREATE TABLE trucks (
          truck_id     TEXT    PRIMARY KEY,
          state        TEXT    NOT NULL,
          version      BIGINT  NOT NULL,
          capacity     INTEGER,
          destination  TEXT,
          opened_at    BIGINT  NOT NULL,
          updated_at   BIGINT  NOT NULL,
          departed_at  BIGINT,
          departures   INTEGER NOT NULL DEFAULT 0,
          last_position BIGINT NOT NULL
        );
        CREATE INDEX trucks_by_state ON trucks (state, truck_id);
        CREATE TABLE truck_loads (
          truck_id    TEXT    NOT NULL,
          shipment_id TEXT    NOT NULL,
          reserved    INTEGER NOT NULL,
          since       BIGINT  NOT NULL,
          PRIMARY KEY (truck_id, shipment_id)
        );
      `,
    },
  ],
  statements: {
    open: `INSERT INTO trucks (truck_id, state, version, capacity, destination, opened_at, updated_at, last_position)
           VALUES (@id, 'loading', @version, @capacity, @destination, @at, @at, @position)`,
    move: `UPDATE trucks SET state = @state, version = @version, updated_at = @at, last_position = @position,
             departed_at = CASE WHEN @departed = 1 THEN @at WHEN @state = 'loading' THEN NULL ELSE departed_at END,
             departures = departures + @departed
           WHERE truck_id = @id`,
    load: `INSERT INTO truck_loads (truck_id, shipment_id, reserved, since) VALUES (@id, @shipmentId, @reserved, @position)`,
    unload: `DELETE FROM truck_loads WHERE truck_id = @id AND shipment_id = @shipmentId`,
    // A confirmed place joins the manifest at its end (as in the machine): its order is the confirmation's.
    confirm: `UPDATE truck_loads SET reserved = 0, since = @position WHERE truck_id = @id AND shipment_id = @shipmentId`,
    empty: `DELETE FROM truck_loads WHERE truck_id = @id`,
  },
  project(stored: StoredEvent): readonly ProjectionWrite<Statement>[] {
    if (!isTruck(stored)) return []
    const event = { type: stored.type, data: stored.data } as TruckEvent
    const id = stored.streamId.slice(truckKind.prefix.length)
    const move = (state: string, departed = 0): ProjectionWrite<Statement> => ({
      statement: 'move',
      params: { id, state, version: stored.version, at: stored.recordedAt, position: stored.position, departed },
    })
    switch (event.type) {
      case 'TruckOpened':
        return [{ statement: 'open', params: { id, version: stored.version, capacity: event.data.capacity, destination: event.data.destination ?? null, at: stored.recordedAt, position: stored.position } }]
      case 'ShipmentLoaded':
        return [move('loading'), { statement: 'load', params: { id, shipmentId: event.data.shipmentId, reserved: event.data.reserved ? 1 : 0, position: stored.position } }]
      case 'ShipmentUnloaded':
      case 'LoadReleased':
        return [move('loading'), { statement: 'unload', params: { id, shipmentId: event.data.shipmentId } }]
      case 'LoadConfirmed':
        return [move('loading'), { statement: 'confirm', params: { id, shipmentId: event.data.shipmentId, position: stored.position } }]
      case 'TruckDeparted':
        return [move('departed', 1)]
      case 'TruckReturned':
        return [move('loading'), { statement: 'empty', params: { id } }]
    }
  },
}

/** `Truck` of docs/api.md. */
export interface TruckView {
  readonly truckId: string
  readonly state: string
  readonly version: number
  readonly capacity: number | null
  readonly load: number
  readonly manifest: string[]
  /** Places held for shipments leaving another truck (they count against the capacity). */
  readonly reserved: string[]
  readonly destination?: string
  readonly openedAt: string
  readonly updatedAt: string
  readonly departedAt?: string
  readonly allowed: TruckClientCommandType[]
}

export interface TruckRow {
  truck_id: string
  state: string
  version: number
  capacity: number | null
  destination: string | null
  opened_at: number
  updated_at: number
  departed_at: number | null
}

const iso = (ms: number) => new Date(ms).toISOString()

/** The one place a truck's facts become its API shape (live reply, read model, time travel). */
export function truckView(facts: {
  truckId: string
  state: string
  version: number
  capacity: number | null
  destination: string | null
  manifest: readonly string[]
  reserved: readonly string[]
  openedAt: number
  updatedAt: number
  departedAt: number | null
  allowed: readonly TruckClientCommandType[]
}): TruckView {
  return {
    truckId: facts.truckId,
    state: facts.state,
    version: facts.version,
    capacity: facts.capacity,
    load: facts.manifest.length,
    manifest: [...facts.manifest],
    reserved: [...facts.reserved],
    ...(facts.destination === null ? {} : { destination: facts.destination }),
    openedAt: iso(facts.openedAt),
    updatedAt: iso(facts.updatedAt),
    ...(facts.departedAt === null ? {} : { departedAt: iso(facts.departedAt) }),
    allowed: [...facts.allowed],
  }
}

/** A truck's view from its actor (replies, time travel); null before it was opened. */
export function truckViewOfActor(truckId: string, actor: Actor): TruckView | null {
  if (actor.version === 0 || actor.createdAt === null || actor.updatedAt === null) return null
  const snapshot = actor.snapshot as TruckSnapshot
  const state = truckDecider.stateOf(snapshot)
  return truckView({
    truckId,
    state,
    version: actor.version,
    capacity: snapshot.context.capacity,
    destination: snapshot.context.destination,
    manifest: snapshot.context.manifest,
    reserved: snapshot.context.reserved,
    openedAt: actor.createdAt,
    updatedAt: actor.updatedAt,
    // Departed, a truck accepts nothing but RETURN: its last event is its departure.
    departedAt: state === 'departed' ? actor.updatedAt : null,
    allowed: truckAllowed(snapshot),
  })
}

/** A truck's view from its read-model rows (state and its loads, in the order they came on). */
export function truckViewOfRows(row: TruckRow, loads: ReadonlyArray<{ shipment_id: string; reserved: number }>): TruckView {
  const manifest = loads.filter((l) => l.reserved === 0).map((l) => l.shipment_id)
  const reserved = loads.filter((l) => l.reserved === 1).map((l) => l.shipment_id)
  return truckView({
    truckId: row.truck_id,
    state: row.state,
    version: row.version,
    capacity: row.capacity,
    destination: row.destination,
    manifest,
    reserved,
    openedAt: row.opened_at,
    updatedAt: row.updated_at,
    departedAt: row.departed_at,
    allowed: truckAllowedFor(row.state, { capacity: row.capacity, destination: row.destination, manifest, reserved }),
  })
}
