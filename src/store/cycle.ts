import type { InboxCommand, NewCommand, NewEvent, Outcome, StoredEvent, StoredSnapshot, StoredWait, StreamSnapshot, SubmitResult } from './types.js'

/**
 * A decision cycle, as the store runs it: ONE write transaction in which the decision layer asks for
 * what it needs, step by step, and the store answers. The decision layer writes the cycle once, as a
 * generator that yields these operations (`decisions/cycle.ts`); each adapter drives it inside its
 * transaction — SQLite synchronously (better-sqlite3 transactions must not await), PostgreSQL over
 * its connection. The store never learns what a shipment is: it inserts, fences, reads and writes.
 *
 *   insert   commands (scanner intake, messages between actors) → their SubmitResults, in order
 *   fence    every partition of the batch is still held under its epoch, or FencedError
 *   pending  undecided commands of the held partitions, arrival order, parked streams left out,
 *            a waiting stream's commands left out unless they may pass (`bypass`)
 *   load     streams to hydrate: the newest checkpoint of one of the schemas (kind and machine
 *            version), the events after it, the saga wait
 *   peek     the current version of streams (0: no events) — a read, for rules that look at another actor
 *   parked   which of these streams are parked (a message to one waits behind its parked command)
 *   write    events, outcomes, checkpoints, waits and projections; returns the events as stored
 */
export type CycleOp =
  | { readonly op: 'insert'; readonly commands: readonly NewCommand[] }
  | { readonly op: 'fence'; readonly held: ReadonlyMap<number, number> }
  | { readonly op: 'pending'; readonly partitions: readonly number[] | 'all'; readonly limit: number; readonly fresh: readonly InboxCommand[] }
  | { readonly op: 'load'; readonly streams: readonly string[]; readonly schemas: readonly string[] }
  | { readonly op: 'peek'; readonly streams: readonly string[] }
  | { readonly op: 'parked'; readonly streams: readonly string[] }
  | { readonly op: 'write'; readonly plan: WritePlan }

export interface PendingBatch {
  readonly commands: InboxCommand[]
  /**
   * Every pending command (of the partitions asked for, not parked, not waiting) with a `seq` up to
   * this one is in `commands` or was decided before: the last seq of a full read; Infinity when the
   * read took all there was.
   */
  readonly through: number
}

export interface LoadedStream {
  readonly streamId: string
  readonly snapshot: StoredSnapshot | undefined
  /** Events after the snapshot (or from the first), in version order. */
  readonly events: StoredEvent[]
  readonly wait: StoredWait | null
}

export interface WritePlan {
  /** In decision order; a stream may appear more than once, each continuing the last. */
  readonly appends: ReadonlyArray<{ readonly streamId: string; readonly expectedVersion: number; readonly events: readonly NewEvent[]; readonly recordedAt: number }>
  /** `event`: the (stream, version) of the event the command recorded, resolved to its position. */
  readonly outcomes: ReadonlyArray<{ readonly seq: number; readonly commandId: string; readonly outcome: Omit<Outcome, 'eventPosition'>; readonly event: { readonly streamId: string; readonly version: number } | null }>
  readonly snapshots: readonly StreamSnapshot[]
  /** Waits set (a row) or ended (null), per stream. */
  readonly waits: ReadonlyArray<{ readonly streamId: string; readonly wait: StoredWait | null }>
}

/** What each operation answers. */
export interface CycleAnswers {
  insert: SubmitResult[]
  fence: void
  pending: PendingBatch
  load: LoadedStream[]
  peek: Map<string, number>
  parked: Set<string>
  write: StoredEvent[]
}

export type CycleGenerator<T> = Generator<CycleOp, T, unknown>

/** `const x = yield* ask({ op: 'pending', … })`: one operation, typed by its answer. */
export function* ask<O extends CycleOp>(op: O): Generator<CycleOp, CycleAnswers[O['op']], unknown> {
  return (yield op) as CycleAnswers[O['op']]
}

/** Thrown by `fence`: a partition's epoch was superseded by a newer owner. */
export class FencedError extends Error {
  override readonly name = 'FencedError'
  constructor(
    readonly partition: number,
    readonly heldEpoch: number,
    readonly currentEpoch: number,
  ) {
    super(`partition ${partition}: epoch ${heldEpoch} was superseded by ${currentEpoch}`)
  }
}

/** An outcome was written for a command that already had one (a second decider: a fence that failed). */
export class OutcomeConflictError extends Error {
  override readonly name = 'OutcomeConflictError'
}
