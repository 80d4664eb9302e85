import { inList, type Sql } from './sql.js'
import type { ReadCounts, StoredEvent, StoredSnapshot } from './types.js'

/**
 * Reads of the event log and its checkpoints, generic over streams. Writes happen only in a decision
 * cycle (`cycle.ts`) or an import, never here.
 */
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

export function toEvent(row: EventRow): StoredEvent {
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

export type { EventRow }

/**
 * `?at=` as a version: the events before the earliest-recorded one after `@at`, else the whole stream.
 * One seek each in events_stream_time and the (stream_id, version) key, no aggregate over the stream.
 */
export const versionAtSql = `SELECT coalesce(
  (SELECT version - 1 FROM events WHERE stream_id = @id AND recorded_at > @at ORDER BY recorded_at, version LIMIT 1),
  (SELECT version FROM events WHERE stream_id = @id ORDER BY version DESC LIMIT 1),
  0) AS version`

export class EventLog {
  readonly reads: ReadCounts = { events: 0, snapshots: 0, timeline: 0 }

  constructor(private readonly sql: Sql) {}

  async #events(sql: string, params: Record<string, unknown>): Promise<StoredEvent[]> {
    const rows = await this.sql.all<EventRow>(sql, params)
    this.reads.events += rows.length
    return rows.map(toEvent)
  }

  /** The stream's events after `afterVersion`, in version order. */
  readStream(streamId: string, afterVersion = 0): Promise<StoredEvent[]> {
    return this.#events(`SELECT ${columns} FROM events WHERE stream_id = @id AND version > @after ORDER BY version`, { id: streamId, after: afterVersion })
  }

  /** At most `limit` of the stream's events after `afterVersion`, in version order (one page). */
  readStreamPage(streamId: string, afterVersion: number, limit: number): Promise<StoredEvent[]> {
    return this.#events(`SELECT ${columns} FROM events WHERE stream_id = @id AND version > @after ORDER BY version LIMIT @limit`, {
      id: streamId,
      after: afterVersion,
      limit,
    })
  }

  /** The stream's events after version `after` up to version `version`, in order (a prefix when after = 0). */
  readStreamRange(streamId: string, after: number, version: number): Promise<StoredEvent[]> {
    return this.#events(`SELECT ${columns} FROM events WHERE stream_id = @id AND version > @after AND version <= @until ORDER BY version`, {
      id: streamId,
      after,
      until: version,
    })
  }

  /**
   * The stream's version at time `at` (epoch ms): the events before the earliest-recorded one after
   * `at`. The decision cycle records time monotonically per stream, so this is every event recorded
   * no later than `at`; for an older log whose clock stepped back it is still a prefix, never a set
   * with holes (which no machine can replay). Two index seeks, whatever the length of the stream.
   */
  async versionAt(streamId: string, at: number): Promise<number> {
    return (await this.sql.get<{ version: number }>(versionAtSql, { id: streamId, at }))!.version
  }

  /** The global feed: events after `position`, in commit order. */
  readAll(afterPosition: number, limit: number): Promise<StoredEvent[]> {
    return this.#events(`SELECT ${columns} FROM events WHERE position > @after ORDER BY position LIMIT @limit`, { after: afterPosition, limit })
  }

  /** The whole log in position order, a page at a time (never loaded at once). */
  async *iterate(afterPosition = 0, page = 5000): AsyncGenerator<StoredEvent> {
    let after = afterPosition
    for (;;) {
      const rows = await this.readAll(after, page)
      if (rows.length === 0) return
      yield* rows
      after = rows[rows.length - 1]!.position
    }
  }

  /** Every event, stream by stream, each stream in version order (keyset pages, never loaded at once). */
  async *byStream(page = 5000): AsyncGenerator<StoredEvent> {
    let stream = ''
    let version = 0
    for (;;) {
      const rows = await this.#events(
        `SELECT ${columns} FROM events WHERE stream_id > @stream OR (stream_id = @stream AND version > @version) ORDER BY stream_id, version LIMIT @limit`,
        { stream, version, limit: page },
      )
      if (rows.length === 0) return
      yield* rows
      const last = rows[rows.length - 1]!
      stream = last.streamId
      version = last.version
    }
  }

  async lastPosition(): Promise<number> {
    return (await this.sql.get<{ last: number | null }>('SELECT max(position) AS last FROM events'))?.last ?? 0
  }

  async streamVersion(streamId: string): Promise<number> {
    const row = await this.sql.get<{ version: number }>('SELECT version FROM events WHERE stream_id = @id ORDER BY version DESC LIMIT 1', { id: streamId })
    return row?.version ?? 0
  }

  /** The event at a position: one key lookup (not a stream read, so not counted in `reads`). */
  async at(position: number): Promise<StoredEvent | undefined> {
    const row = await this.sql.get<EventRow>(`SELECT ${columns} FROM events WHERE position = @position`, { position })
    return row && toEvent(row)
  }

  /** The newest checkpoint of one of `schemas` at or before version `atMost` (one index seek each). */
  async loadSnapshot(streamId: string, schemas: string | readonly string[], atMost = Number.MAX_SAFE_INTEGER): Promise<StoredSnapshot | undefined> {
    const row = await this.sql.get<{ version: number; schema: string; state: string }>(
      `SELECT version, schema, state FROM snapshots WHERE stream_id = @id AND ${inList(this.sql, 'schema', 'schemas')} AND version <= @atMost ORDER BY version DESC LIMIT 1`,
      { id: streamId, schemas: typeof schemas === 'string' ? [schemas] : schemas, atMost },
    )
    if (!row) return undefined
    this.reads.snapshots++
    return { version: row.version, schema: row.schema, state: JSON.parse(row.state) }
  }
}
