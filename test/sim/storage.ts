import { ShipmentQueries } from '../../src/projections/queries.js'
import { projections, type Storage } from '../../src/storage.js'
import { openSqliteStore } from '../../src/store/sqlite/store.js'

/**
 * The installation's storage on a SQLite file, as `openStorage` opens it (migrated, the projections
 * wired), but with the adapter imported statically: `openStorage`'s dynamic `import()` goes through
 * the module loader (loader hooks under tap run on another thread), which would let real time into
 * the simulated schedule. `busyTimeoutMs` 0: one thread runs every simulated process, so a writer
 * that would wait for another is told at once that the database is locked (and retries, as it does
 * after a busy timeout).
 */
export async function openSimStorage(file: string, busyTimeoutMs = 0): Promise<Storage> {
  const store = await openSqliteStore({ file, busyTimeoutMs, projections, mustExist: false, readonly: false })
  let closed: Promise<void> | null = null
  return {
    store,
    queries: new ShipmentQueries(store),
    tokens: null as never,
    close: () => (closed ??= store.close()),
  }
}
