import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'

export type Db = Database.Database

export interface DatabaseOptions {
  /** Milliseconds a writer waits for the lock; keep it far below the queue's stall interval. */
  readonly busyTimeoutMs: number
  readonly readonly?: boolean
}

/**
 * Opens the SQLite file with the pragmas every connection must have: WAL, `synchronous=FULL` (a
 * committed command survives power loss; better-sqlite3 would default WAL to NORMAL), foreign keys, and
 * a bounded busy timeout. Write transactions use `.immediate()` so a writer takes the lock up front.
 */
export function openDatabase(file: string, options: DatabaseOptions): Db {
  if (!options.readonly) mkdirSync(dirname(file), { recursive: true })
  const db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false })
  db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs)}`)
  if (!options.readonly) db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.pragma('foreign_keys = ON')
  db.pragma('cache_size = -65536')
  db.pragma('temp_store = MEMORY')
  return db
}

/**
 * Errors that say the database cannot take this write right now (locked by another process, full,
 * failing I/O) rather than anything about the data: retried, or answered 503, never counted against a
 * command.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY|PROTOCOL|NOMEM)/.test(code)
}

export interface Migration {
  /** Unique and stable forever, e.g. `store/1-events`. Applied in list order, each once. */
  readonly id: string
  readonly sql: string
}

/** Applies the migrations not yet recorded in `migrations`, each in its own transaction. */
export function migrate(db: Db, migrations: readonly Migration[]): string[] {
  db.exec('CREATE TABLE IF NOT EXISTS migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT')
  const applied = new Set(db.prepare('SELECT id FROM migrations').pluck().all() as string[])
  const record = db.prepare('INSERT INTO migrations (id, applied_at) VALUES (?, ?)')
  const done: string[] = []
  for (const migration of migrations) {
    if (applied.has(migration.id)) continue
    db.transaction(() => {
      db.exec(migration.sql)
      record.run(migration.id, Date.now())
    }).immediate()
    done.push(migration.id)
  }
  return done
}
