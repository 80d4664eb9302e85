import { LRUCache } from 'lru-cache'
import {
  evolve,
  initialSnapshot,
  machineVersion,
  persist,
  restore,
  stateOf,
  type PersistedShipment,
  type ShipmentEvent,
  type ShipmentSnapshot,
} from '../../machines/shipment/index.js'
import type { ShipmentFacts } from '../projections/shipments.js'
import type { EventStore, StoredEvent, StoredSnapshot } from '../store/event-store.js'

/**
 * An actor is a hydrated shipment: its machine snapshot plus the stream facts the API shows. Actors are
 * immutable values; the cache holds the latest committed one per shipment.
 *
 * Hydration never runs a live actor: from the cache (hot), else the persisted snapshot (restored with
 * `resolveState`) plus the events after it, else a replay from the first event, all through the pure
 * `transition()`. A snapshot stamped with another machine version is ignored.
 */
export interface Actor {
  readonly snapshot: ShipmentSnapshot
  readonly version: number
  readonly registeredAt: number | null
  readonly updatedAt: number | null
}

interface PersistedActor extends PersistedShipment {
  readonly registeredAt: number | null
  readonly updatedAt: number | null
}

export const snapshotSchema = `shipment@${machineVersion}`

export const emptyActor: Actor = { snapshot: initialSnapshot(), version: 0, registeredAt: null, updatedAt: null }

export function applyEvent(actor: Actor, event: StoredEvent): Actor {
  return {
    snapshot: evolve(actor.snapshot, { type: event.type, data: event.data } as ShipmentEvent),
    version: event.version,
    registeredAt: actor.registeredAt ?? event.recordedAt,
    updatedAt: event.recordedAt,
  }
}

export function replayActor(events: Iterable<StoredEvent>, from: Actor = emptyActor): Actor {
  let actor = from
  for (const event of events) actor = applyEvent(actor, event)
  return actor
}

/** The API facts of an existing shipment; null when it has no events. */
export function actorFacts(shipmentId: string, actor: Actor): ShipmentFacts | null {
  if (actor.version === 0 || actor.registeredAt === null || actor.updatedAt === null) return null
  const { truckId, origin, destination } = actor.snapshot.context
  return {
    shipmentId,
    state: stateOf(actor.snapshot),
    version: actor.version,
    truckId,
    origin,
    destination,
    registeredAt: actor.registeredAt,
    updatedAt: actor.updatedAt,
  }
}

export function toStoredSnapshot(actor: Actor): StoredSnapshot {
  const state: PersistedActor = { ...persist(actor.snapshot), registeredAt: actor.registeredAt, updatedAt: actor.updatedAt }
  return { version: actor.version, schema: snapshotSchema, state }
}

function fromStoredSnapshot(stored: StoredSnapshot): Actor {
  const state = stored.state as PersistedActor
  return { snapshot: restore(state), version: stored.version, registeredAt: state.registeredAt, updatedAt: state.updatedAt }
}

export type HydrationSource = 'cache' | 'snapshot' | 'replay'

export interface ActorCacheOptions {
  /** Most actors kept; 0 disables the cache. */
  readonly size: number
  readonly onHydrate?: (source: HydrationSource) => void
}

interface Cached {
  readonly actor: Actor
  /** The partition epoch the actor was committed under: a new owner's epoch invalidates it. */
  readonly epoch: number
}

export class ActorCache {
  readonly #cache: LRUCache<string, Cached> | null

  constructor(
    private readonly store: EventStore,
    private readonly options: ActorCacheOptions,
  ) {
    this.#cache = options.size > 0 ? new LRUCache({ max: options.size }) : null
  }

  /** The shipment's latest committed actor, hydrated if the cache has none for this epoch. */
  get(streamId: string, epoch: number): Actor {
    const cached = this.#cache?.get(streamId)
    if (cached && cached.epoch === epoch) {
      this.options.onHydrate?.('cache')
      return cached.actor
    }
    const actor = this.hydrate(streamId)
    this.#cache?.set(streamId, { actor, epoch })
    return actor
  }

  /** Records the actor after a committed transaction. */
  set(streamId: string, actor: Actor, epoch: number): void {
    this.#cache?.set(streamId, { actor, epoch })
  }

  delete(streamId: string): void {
    this.#cache?.delete(streamId)
  }

  clear(): void {
    this.#cache?.clear()
  }

  get size(): number {
    return this.#cache?.size ?? 0
  }

  /** From the persisted snapshot (if its machine version matches) plus the tail, else a full replay. */
  hydrate(streamId: string): Actor {
    const stored = this.store.loadSnapshot(streamId)
    const base = stored && stored.schema === snapshotSchema ? fromStoredSnapshot(stored) : emptyActor
    this.options.onHydrate?.(base === emptyActor ? 'replay' : 'snapshot')
    return replayActor(this.store.readStream(streamId, base.version), base)
  }
}

/**
 * The shipment as it was after `version` and/or at time `at` (epoch ms): from the persisted snapshot
 * when it is not newer than asked, else from the first event.
 */
export function hydrateUntil(store: EventStore, streamId: string, until: { version?: number; at?: number }): Actor {
  const stored = until.at === undefined ? store.loadSnapshot(streamId) : undefined
  const usable = stored && stored.schema === snapshotSchema && stored.version <= (until.version ?? Number.MAX_SAFE_INTEGER)
  const base = usable ? fromStoredSnapshot(stored) : emptyActor
  return replayActor(
    store.readStreamUntil(streamId, { ...until }).filter((e) => e.version > base.version),
    base,
  )
}
