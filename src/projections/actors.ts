import type { AggregateKind, KindEvent } from '../../machines/kind.js'
import { kindOfStream } from '../../machines/kinds.js'
import type { EventLog } from '../store/events.js'
import type { StoredEvent, StoredSnapshot, StoredWait } from '../store/types.js'

/**
 * An actor is a hydrated aggregate: its machine snapshot plus the stream facts the API shows (and,
 * for the decision layer, the saga wait it is in). Actors are immutable values.
 *
 * Hydration never runs a live actor: a persisted checkpoint (restored with `resolveState`) plus the
 * events after it, else a replay from the first event, all through the kind's pure `evolve`. A
 * checkpoint stamped with another schema (kind and machine version) is ignored.
 */
export interface Actor<S = unknown> {
  readonly kind: AggregateKind<S, any, any>
  readonly snapshot: S
  readonly version: number
  /** When its first event was recorded (registered, opened). */
  readonly createdAt: number | null
  readonly updatedAt: number | null
  /** The saga step this stream waits in (decision layer only; null on the read side). */
  readonly wait: StoredWait | null
}

export const snapshotSchema = (kind: Pick<AggregateKind, 'name' | 'machineVersion'>): string => `${kind.name}@${kind.machineVersion}`

/** The checkpoint schemas this kind reads: its own, and those of older versions it declares still valid. */
export const snapshotSchemas = (kind: Pick<AggregateKind, 'name' | 'machineVersion' | 'readsSnapshotsOf'>): readonly string[] => [
  snapshotSchema(kind),
  ...(kind.readsSnapshotsOf ?? []).map((version) => `${kind.name}@${version}`),
]

export function emptyActor<S>(kind: AggregateKind<S, any, any>): Actor<S> {
  return { kind, snapshot: kind.initial(), version: 0, createdAt: null, updatedAt: null, wait: null }
}

export function applyEvent<S>(actor: Actor<S>, event: StoredEvent): Actor<S> {
  return {
    ...actor,
    snapshot: actor.kind.evolve(actor.snapshot, { type: event.type, data: event.data } as KindEvent),
    version: event.version,
    createdAt: actor.createdAt ?? event.recordedAt,
    updatedAt: event.recordedAt,
  }
}

export class HistoryGapError extends Error {
  override readonly name = 'HistoryGapError'
}

/** Replays `events` onto `from`; they must continue it without a hole (version n+1 after n). */
export function replayActor<S>(events: Iterable<StoredEvent>, from: Actor<S>): Actor<S> {
  let actor = from
  for (const event of events) {
    if (event.version !== actor.version + 1) {
      throw new HistoryGapError(`${event.streamId}: event version ${event.version} cannot follow version ${actor.version}`)
    }
    actor = applyEvent(actor, event)
  }
  return actor
}

interface PersistedActor {
  readonly machine: unknown
  readonly createdAt: number | null
  readonly updatedAt: number | null
}

/**
 * What a checkpoint stores. Shipment checkpoints written before kinds existed hold the machine's
 * `value` and `context` at the top level with `registeredAt`; they are read as they are.
 */
export function toStoredSnapshot(actor: Actor): StoredSnapshot {
  if (actor.kind.name === 'shipment') {
    return { version: actor.version, schema: snapshotSchema(actor.kind), state: { ...(actor.kind.persist(actor.snapshot) as object), registeredAt: actor.createdAt, updatedAt: actor.updatedAt } }
  }
  const state: PersistedActor = { machine: actor.kind.persist(actor.snapshot), createdAt: actor.createdAt, updatedAt: actor.updatedAt }
  return { version: actor.version, schema: snapshotSchema(actor.kind), state }
}

export function fromStoredSnapshot<S>(kind: AggregateKind<S, any, any>, stored: StoredSnapshot): Actor<S> {
  if (kind.name === 'shipment') {
    const state = stored.state as { registeredAt: number | null; updatedAt: number | null }
    return { kind, snapshot: kind.restore(state), version: stored.version, createdAt: state.registeredAt, updatedAt: state.updatedAt, wait: null }
  }
  const state = stored.state as PersistedActor
  return { kind, snapshot: kind.restore(state.machine), version: stored.version, createdAt: state.createdAt, updatedAt: state.updatedAt, wait: null }
}

/**
 * The aggregate as it was after `version` and/or at time `at` (epoch ms). `at` is first resolved to a
 * version (`EventLog.versionAt`), so both are a prefix of the stream. Bounded cost: the newest
 * checkpoint of this schema at or before that version (one index seek; the decision layer keeps one
 * every WAYBILL_SNAPSHOT_EVERY events) plus the events after it — never a replay from event 1 of a
 * stream that has checkpoints.
 */
export async function hydrateUntil(log: EventLog, streamId: string, until: { version?: number; at?: number }): Promise<Actor> {
  const kind = kindOfStream(streamId)
  const version = Math.min(until.version ?? Number.MAX_SAFE_INTEGER, until.at === undefined ? Number.MAX_SAFE_INTEGER : await log.versionAt(streamId, until.at))
  const stored = await log.loadSnapshot(streamId, snapshotSchemas(kind), version)
  const base = stored ? fromStoredSnapshot(kind, stored) : emptyActor(kind)
  return replayActor(await log.readStreamRange(streamId, base.version, version), base)
}
