/**
 * What every aggregate kind (shipment, truck, …) offers the rest of the system: a pure, deterministic
 * machine behind a small interface, so that the decision cycle, replay, time travel, the checkers
 * and the review page are written once for all kinds. Nothing here does I/O or reads a clock.
 */
export interface Rejected {
  readonly outcome: 'rejected'
  readonly reason: string
  readonly detail: string
  /** The state the command was refused in. */
  readonly state: string
  readonly allowed: readonly string[]
}

export interface Accepted<S, E> {
  readonly outcome: 'accepted'
  readonly event: E
  readonly snapshot: S
}

export type Decision<S, E> = Accepted<S, E> | Rejected

export interface KindEvent {
  readonly type: string
  readonly data: unknown
}

export interface AggregateKind<S = unknown, C extends { readonly type: string } = { readonly type: string }, E extends KindEvent = KindEvent> {
  /** `shipment`, `truck`: also the `streamType` the API shows. */
  readonly name: string
  /** Stream ids of this kind are `${prefix}${id}` (a prefix uses ':', which no id may contain). */
  readonly prefix: string
  /** Bumped with every change of the chart: checkpoints of another version are ignored… */
  readonly machineVersion: string
  /** …except those of the older versions named here, declared still valid (a version that only added). */
  readonly readsSnapshotsOf?: readonly string[]
  initial(): S
  /** The machine's decision: an event and the next snapshot, or a rejection with reason and `allowed`. */
  decide(snapshot: S, command: C): Decision<S, E>
  /** Applies a recorded event; throws when the history is not a valid path of the machine. */
  evolve(snapshot: S, event: E): S
  /** The atomic state's name (what the API shows as `state`). */
  stateOf(snapshot: S): string
  /** The commands the snapshot may be sent (guards on its own context considered). */
  allowed(snapshot: S): readonly string[]
  persist(snapshot: S): unknown
  restore(persisted: unknown): S
}

/** The stream id of an aggregate of `kind` (shipments keep their bare id). */
export function streamIdOf(kind: Pick<AggregateKind, 'prefix'>, id: string): string {
  return kind.prefix + id
}
