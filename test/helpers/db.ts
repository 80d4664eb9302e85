import type { Database } from 'better-sqlite3'
import type { Storage } from '../../src/storage.js'
import type { SqliteStore } from '../../src/store/sqlite/store.js'

/**
 * The better-sqlite3 connection behind a SQLite storage, for tests that look at (or tamper with) the
 * file directly. Throws on a PostgreSQL storage: such a test is SQLite-only and must say so.
 */
export function sqliteDb(storage: Storage | { readonly store: Storage['store'] }): Database {
  if (storage.store.dialect !== 'sqlite') throw new Error('this check reads the SQLite file directly')
  return (storage.store as SqliteStore).db
}
