import { existsSync } from 'node:fs'
import type { CycleGenerator } from '../cycle.js'
import { PartitionEpochs } from '../epochs.js'
import { EventLog, toEvent, type EventRow } from '../events.js'
import { Inbox } from '../inbox.js'
import { Installation } from '../installation.js'
import { migrate, missingMigrations } from '../migrate.js'
import { Parking } from '../parking.js'
import { Devices } from '../devices.js'
import type { Projection } from '../projection.js'
import { allMigrations } from '../schema.js'
import { NoDatabaseError, type Store } from '../store.js'
import type { ImportedEvent, NewCommand, StoredEvent, StreamSnapshot, SubmitResult } from '../types.js'
import { SqliteCycleOps } from './cycle.js'
import { openDatabase, SqliteSql } from './executor.js'
import { holdExclusive, holdServed } from './served-lock.js'

export interface SqliteStoreOptions {
  readonly file: string
  readonly busyTimeoutMs: number
  readonly projections: readonly Projection[]
  /** A missing file is an error (every command but `init` and `serve`), not a new empty database. */
  readonly mustExist?: boolean
  /** Opened read-only: neither migrated nor switched to WAL, not one byte changes (how `backup` checks its copy). */
  readonly readonly?: boolean
}


/** The embedded adapter: one SQLite file (WAL, synchronous=FULL), one connection per process. */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  if ((options.mustExist || options.readonly) && !existsSync(options.file)) throw new NoDatabaseError(`no database at ${options.file} (check WAYBILL_DATA_DIR)`)
  const db = openDatabase(options.file, { busyTimeoutMs: options.busyTimeoutMs, readonly: options.readonly ?? false })
  const sql = new SqliteSql(db)
  const migrations = allMigrations(options.projections)
  try {
    if (options.readonly) {
      const missing = await missingMigrations(sql, migrations)
      if (missing.length > 0) throw new NoDatabaseError(`${options.file} is not a database of this version (missing migrations ${missing.join(', ')})`)
    } else {
      await migrate(sql, migrations)
    }
  } catch (error) {
    db.close()
    throw error
  }
  return new SqliteStore(sql, options)
}

export class SqliteStore implements Store {
  readonly dialect = 'sqlite' as const
  readonly location: string
  readonly events: EventLog
  readonly inbox: Inbox
  readonly epochs: PartitionEpochs
  readonly parking: Parking
  readonly devices: Devices
  readonly installation: Installation
  readonly projections: readonly Projection[]
  readonly ops: SqliteCycleOps

  constructor(
    readonly sql: SqliteSql,
    private readonly options: SqliteStoreOptions,
  ) {
    this.location = options.file
    this.events = new EventLog(sql)
    this.inbox = new Inbox(sql)
    this.epochs = new PartitionEpochs(sql)
    this.parking = new Parking(sql)
    this.devices = new Devices(sql)
    this.installation = new Installation(sql)
    this.projections = options.projections
    this.ops = options.readonly ? (null as never) : new SqliteCycleOps(sql.db, options.projections)
  }

  /** The better-sqlite3 connection (SQLite-only operations: backup, tests). */
  get db() {
    return this.sql.db
  }

  cycle<T>(start: () => CycleGenerator<T>): Promise<T> {
    return this.sql.writeSync(() => this.ops.run(start()))
  }

  submit(commands: readonly NewCommand[]): Promise<SubmitResult[]> {
    return this.sql.writeSync(() => this.ops.insert(commands))
  }

  rebuildProjections(onProgress?: (applied: number) => void): Promise<number> {
    return this.sql.writeSync(() => {
      const db = this.sql.db
      for (const projection of this.projections) for (const table of projection.tables) db.exec(`DELETE FROM ${table}`)
      const statements = this.projections.map((p) => ({ p, s: new Map(Object.entries(p.statements).map(([k, sql]) => [k, db.prepare(sql as string)])) }))
      // Read in pages: better-sqlite3 runs no other statement on a connection while an iterator is open.
      const page = db.prepare('SELECT position, stream_id, version, type, data, metadata, recorded_at FROM events WHERE position > ? ORDER BY position LIMIT 5000')
      let applied = 0
      for (let after = 0; ; ) {
        const rows = page.all(after) as EventRow[]
        if (rows.length === 0) break
        for (const row of rows) {
          const event = toEvent(row)
          for (const { p, s } of statements) for (const write of p.project(event)) s.get(write.statement)!.run(write.params)
          if (++applied % 10000 === 0) onProgress?.(applied)
        }
        after = rows[rows.length - 1]!.position
      }
      onProgress?.(applied)
      return applied
    })
  }

  importEvents(
    events: readonly ImportedEvent[],
    snapshots: readonly StreamSnapshot[],
  ): Promise<StoredEvent[]> {
    return this.sql.writeSync(() =>
      this.ops.write({
        appends: events.map((e) => ({ streamId: e.streamId, expectedVersion: e.version - 1, events: [{ type: e.type, data: e.data, metadata: e.metadata }], recordedAt: e.recordedAt })),
        outcomes: [],
        snapshots,
        waits: [],
      }),
    )
  }

  async holdServed() {
    const lock = holdServed(this.options.file)
    return { release: async () => lock.release() }
  }

  async holdExclusive() {
    const lock = holdExclusive(this.options.file)
    return { release: async () => lock.release() }
  }

  async writable(): Promise<boolean> {
    return (await this.sql.get<{ one: number }>('SELECT 1 AS one'))?.one === 1
  }

  async close(): Promise<void> {
    if (this.sql.db.open) this.sql.db.close()
  }
}
