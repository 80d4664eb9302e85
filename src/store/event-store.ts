import type { Statement } from 'better-sqlite3'
import type { Db } from './database.js'

/**
 * The event log, generic over streams (it knows nothing about shipments).
 * Contract: `append` and `saveSnapshot` must run inside the caller's write transaction; the expected
 * version is enforced by UNIQUE(stream_id, version) and the no-gap trigger, so a stale writer fails
 * instead of forking a stream.
 */
export interface NewEvent {
  readonly type: string
  readonly data: unknown
  readonly metadata: Readonly<Record<string, unknown>>
}

export interface StoredEvent<T extends string = string, D = unknown> {
  readonly position: number
  readonly streamId: string
  readonly version: number
  readonly type: T
  readonly data: D
  readonly metadata: Readonly<Record<string, unknown>>
  /** Epoch milliseconds of the commit that recorded the event. */
  readonly recordedAt: number
}

export interface StoredSnapshot {
  readonly version: number
  readonly schema: string
  readonly state: unknown
}

interface EventRow {
  position: number
  stream_id: string
  version: number
  type: string
  data: string
  metadata: string
  recorded_at: number
}

const columns = 'position, stream_id, version, type, data, metadata, recorded_at'

export class EventStore {
  readonly #insert: Statement
  readonly #stream: Statement
  readonly #streamUntil: Statement
  readonly #all: Statement
  readonly #lastPosition: Statement
  readonly #streamVersion: Statement
  readonly #snapshot: Statement
  readonly #saveSnapshot: Statement
  readonly #byStream: Statement

  constructor(readonly db: Db) {
    this.#insert = db.prepare(
      'INSERT INTO events (stream_id, version, type, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?)',
    )
    this.#stream = db.prepare(`SELECT ${columns} FROM events WHERE stream_id = ? AND version > ? ORDER BY version`)
    this.#streamUntil = db.prepare(
      `SELECT ${columns} FROM events WHERE stream_id = ? AND version <= ? AND recorded_at <= ? ORDER BY version`,
    )
    this.#all = db.prepare(`SELECT ${columns} FROM events WHERE position > ? ORDER BY position LIMIT ?`)
    this.#byStream = db.prepare(`SELECT ${columns} FROM events ORDER BY stream_id, version`)
    this.#lastPosition = db.prepare('SELECT coalesce(max(position), 0) FROM events').pluck()
    this.#streamVersion = db.prepare('SELECT coalesce(max(version), 0) FROM events WHERE stream_id = ?').pluck()
    this.#snapshot = db.prepare('SELECT version, schema, state FROM snapshots WHERE stream_id = ?')
    this.#saveSnapshot = db.prepare(
      `INSERT INTO snapshots (stream_id, version, schema, state) VALUES (?, ?, ?, ?)
       ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, schema = excluded.schema, state = excluded.state
       WHERE excluded.version >= snapshots.version`,
    )
  }

  /** Appends `events` after `expectedVersion`. Call inside a write transaction. */
  append(streamId: string, expectedVersion: number, events: readonly NewEvent[], recordedAt: number): StoredEvent[] {
    return events.map((event, i) => {
      const version = expectedVersion + i + 1
      const { lastInsertRowid } = this.#insert.run(
        streamId,
        version,
        event.type,
        JSON.stringify(event.data),
        JSON.stringify(event.metadata),
        recordedAt,
      )
      return { position: Number(lastInsertRowid), streamId, version, type: event.type, data: event.data, metadata: event.metadata, recordedAt }
    })
  }

  /** The stream's events after `afterVersion`, in version order. */
  readStream(streamId: string, afterVersion = 0): StoredEvent[] {
    return (this.#stream.all(streamId, afterVersion) as EventRow[]).map(toEvent)
  }

  /** The stream as it was: events up to `version` and recorded no later than `at` (epoch ms). */
  readStreamUntil(streamId: string, until: { version?: number; at?: number }): StoredEvent[] {
    return (this.#streamUntil.all(streamId, until.version ?? Number.MAX_SAFE_INTEGER, until.at ?? Number.MAX_SAFE_INTEGER) as EventRow[]).map(toEvent)
  }

  /** The global feed: events after `position`, in commit order. */
  readAll(afterPosition: number, limit: number): StoredEvent[] {
    return (this.#all.all(afterPosition, limit) as EventRow[]).map(toEvent)
  }

  /** Iterates the whole log in position order without loading it into memory. */
  *iterate(afterPosition = 0, batch = 5000): Generator<StoredEvent> {
    let after = afterPosition
    for (;;) {
      const rows = this.readAll(after, batch)
      if (rows.length === 0) return
      yield* rows
      after = rows[rows.length - 1]!.position
    }
  }

  /** Every event, stream by stream, each stream in version order (streamed, not loaded). */
  *byStream(): Generator<StoredEvent> {
    for (const row of this.#byStream.iterate() as Iterable<EventRow>) yield toEvent(row)
  }

  lastPosition(): number {
    return this.#lastPosition.get() as number
  }

  streamVersion(streamId: string): number {
    return this.#streamVersion.get(streamId) as number
  }

  loadSnapshot(streamId: string): StoredSnapshot | undefined {
    const row = this.#snapshot.get(streamId) as { version: number; schema: string; state: string } | undefined
    return row && { version: row.version, schema: row.schema, state: JSON.parse(row.state) }
  }

  /** Keeps the newest snapshot per stream. Call inside a write transaction. */
  saveSnapshot(streamId: string, snapshot: StoredSnapshot): void {
    this.#saveSnapshot.run(streamId, snapshot.version, snapshot.schema, JSON.stringify(snapshot.state))
  }
}

function toEvent(row: EventRow): StoredEvent {
  return {
    position: row.position,
    streamId: row.stream_id,
    version: row.version,
    type: row.type,
    data: JSON.parse(row.data),
    metadata: JSON.parse(row.metadata),
    recordedAt: row.recorded_at,
  }
}
