import type { CycleGenerator } from './cycle.js'
import type { Devices } from './devices.js'
import type { PartitionEpochs } from './epochs.js'
import type { EventLog } from './events.js'
import type { Inbox } from './inbox.js'
import type { Installation } from './installation.js'
import type { Parking } from './parking.js'
import type { Projection } from './projection.js'
import type { Dialect, Sql } from './sql.js'
import type { ImportedEvent, NewCommand, StoredEvent, StreamSnapshot, SubmitResult } from './types.js'

/**
 * The storage port: one interface, two adapters — `sqlite/` (better-sqlite3, one file, the embedded
 * default) and `postgres/` (node-postgres, pooled; any number of Waybill processes on any number of
 * hosts). Everything above this folder works through it and never learns which one it has, except
 * where an operation is the database's own business (backup: `VACUUM INTO` or `pg_dump`).
 */
export interface Store {
  readonly dialect: Dialect
  /** Where the data lives, for logs and `doctor` (no password). */
  readonly location: string
  readonly sql: Sql
  readonly events: EventLog
  readonly inbox: Inbox
  readonly epochs: PartitionEpochs
  readonly parking: Parking
  readonly devices: Devices
  readonly installation: Installation
  readonly projections: readonly Projection[]
  /**
   * Runs a decision cycle in ONE write transaction (see cycle.ts). `start` makes a fresh generator
   * (a failed attempt is retried from the beginning).
   */
  cycle<T>(start: () => CycleGenerator<T>): Promise<T>
  /** Commits commands in a transaction of their own (what a failed cycle took in). */
  submit(commands: readonly NewCommand[]): Promise<SubmitResult[]>
  /**
   * Empties every projection table and replays `events` into them, in ONE write transaction:
   * readers see the old read model until the new one is complete; decisions wait meanwhile.
   */
  rebuildProjections(onProgress?: (applied: number) => void): Promise<number>
  /**
   * Appends events that come from outside (an import), each continuing its stream, applied to the
   * projections, with the snapshots made while importing, in one write transaction.
   */
  importEvents(events: readonly ImportedEvent[], snapshots: readonly StreamSnapshot[]): Promise<StoredEvent[]>
  /**
   * For `serve` and `worker`: held for the process's life; `exclusive()` (an import) is refused while
   * any process holds it, and the other way round. Released by the database when a process dies.
   * Where the database can end the lock's session while the process lives (PostgreSQL), it is taken
   * again; `onLost` hears each loss and each failed attempt to take it back.
   */
  holdServed(onLost?: (error: unknown) => void): Promise<{ release(): Promise<void> }>
  holdExclusive(): Promise<{ release(): Promise<void> }>
  /** Whether a write can be taken now (`/ready`). */
  writable(): Promise<boolean>
  close(): Promise<void>
}

export class ServedError extends Error {
  override readonly name = 'ServedError'
}

export class NoDatabaseError extends Error {
  override readonly name = 'NoDatabaseError'
}
