import { existsSync } from 'node:fs'
import { tokenMigrations, TokenStore } from './auth/tokens.js'
import type { Config } from './config.js'
import { inboxMigrations } from './inbox/migrations.js'
import { Inbox } from './inbox/inbox.js'
import { Parking } from './inbox/parking.js'
import { Projector } from './projections/projection.js'
import { ShipmentQueries } from './projections/queries.js'
import { shipmentsProjection } from './projections/shipments.js'
import { statsProjection } from './projections/stats.js'
import { migrate, openDatabase, type Db } from './store/database.js'
import { EventStore } from './store/event-store.js'
import { PartitionEpochs } from './store/fencing.js'
import { storeMigrations } from './store/migrations.js'

/**
 * Everything that lives in the SQLite file, opened and migrated: shared by the service, the worker
 * processes and the CLI.
 */
export interface Storage {
  readonly db: Db
  readonly store: EventStore
  readonly inbox: Inbox
  readonly parking: Parking
  readonly epochs: PartitionEpochs
  readonly projector: Projector
  readonly queries: ShipmentQueries
  readonly tokens: TokenStore
  close(): void
}

/** In this order: the stats read where a shipment was from `shipments` before it is updated. */
export const projections = [statsProjection, shipmentsProjection] as const

export class NoDatabaseError extends Error {
  override readonly name = 'NoDatabaseError'
}

/**
 * Opens (and migrates) the database. `mustExist`: for commands that read an installation's data
 * (verify, backup, replay, export), a missing file is an error, not a new empty database.
 */
export function openStorage(
  config: Pick<Config, 'databaseFile' | 'busyTimeoutMs' | 'bootstrapToken'>,
  clock: () => number = Date.now,
  options: { mustExist?: boolean } = {},
): Storage {
  if (options.mustExist && !existsSync(config.databaseFile)) throw new NoDatabaseError(`no database at ${config.databaseFile} (check WAYBILL_DATA_DIR)`)
  const db = openDatabase(config.databaseFile, { busyTimeoutMs: config.busyTimeoutMs })
  migrate(db, [...storeMigrations, ...inboxMigrations, ...tokenMigrations, ...projections.flatMap((p) => p.migrations)])
  const store = new EventStore(db)
  const inbox = new Inbox(db)
  return {
    db,
    store,
    inbox,
    parking: new Parking(db, inbox),
    epochs: new PartitionEpochs(db),
    projector: new Projector(db, projections),
    queries: new ShipmentQueries(db, store),
    tokens: new TokenStore(db, config.bootstrapToken, clock),
    close: () => {
      if (db.open) db.close()
    },
  }
}
