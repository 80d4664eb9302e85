import { TokenStore } from './auth/tokens.js'
import type { Config } from './config.js'
import { ShipmentQueries } from './projections/queries.js'
import { reviewProjection } from './projections/review.js'
import { shipmentsProjection } from './projections/shipments.js'
import { trucksProjection } from './projections/trucks.js'
import type { Projection } from './store/projection.js'
import type { Store } from './store/store.js'

/**
 * Everything that lives in the installation's database, opened and migrated: the store (SQLite file
 * or PostgreSQL, by configuration), its read models, the tokens. Shared by the service, the worker
 * processes and the CLI.
 */
export interface Storage {
  readonly store: Store
  readonly queries: ShipmentQueries
  readonly tokens: TokenStore
  close(): Promise<void>
}

/** Each projection reads only its own tables (see store/projection.ts), so their order does not matter. */
export const projections: readonly Projection[] = [shipmentsProjection, trucksProjection, reviewProjection]

export interface OpenOptions {
  /** For commands that read an installation's data: a missing database is an error, not a new one. */
  readonly mustExist?: boolean
  /** SQLite only: opened read-only, neither migrated nor switched to WAL (how `backup` checks its copy). */
  readonly readonly?: boolean
  /** SQLite only: another file than the configured database (a backup copy). */
  readonly file?: string
  readonly onClose?: () => void | Promise<void>
}

/** The store the configuration names: PostgreSQL with WAYBILL_DATABASE_URL, else the embedded SQLite file. */
export async function openStore(config: Pick<Config, 'databaseFile' | 'databaseUrl' | 'busyTimeoutMs'>, options: OpenOptions = {}): Promise<Store> {
  if (config.databaseUrl && !options.file) {
    const { openPostgresStore } = await import('./store/postgres/store.js')
    return openPostgresStore({ url: config.databaseUrl, projections, mustExist: options.mustExist ?? false })
  }
  const { openSqliteStore } = await import('./store/sqlite/store.js')
  return openSqliteStore({
    file: options.file ?? config.databaseFile,
    busyTimeoutMs: config.busyTimeoutMs,
    projections,
    mustExist: options.mustExist ?? false,
    readonly: options.readonly ?? false,
  })
}

export async function openStorage(
  config: Pick<Config, 'databaseFile' | 'databaseUrl' | 'busyTimeoutMs' | 'bootstrapToken'>,
  clock: () => number = Date.now,
  options: OpenOptions = {},
): Promise<Storage> {
  const store = await openStore(config, options)
  let closed: Promise<void> | null = null
  return {
    store,
    queries: new ShipmentQueries(store),
    tokens: new TokenStore(store.sql, config.bootstrapToken, clock),
    close() {
      closed ??= (async () => {
        await store.close()
        await options.onClose?.()
      })()
      return closed
    },
  }
}
