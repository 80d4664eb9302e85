import pg from 'pg'
import type { CycleGenerator } from '../cycle.js'
import { PartitionEpochs } from '../epochs.js'
import { EventLog } from '../events.js'
import { Inbox } from '../inbox.js'
import { Installation } from '../installation.js'
import { migrate, missingMigrations } from '../migrate.js'
import { Parking } from '../parking.js'
import { Devices } from '../devices.js'
import type { Projection } from '../projection.js'
import { allMigrations } from '../schema.js'
import { NoDatabaseError, ServedError, type Store } from '../store.js'
import type { ImportedEvent, NewCommand, StoredEvent, StreamSnapshot, SubmitResult } from '../types.js'
import { PostgresCycleOps } from './cycle.js'
import { preparing } from './prepared.js'
import { createPool, PostgresSql } from './executor.js'

export interface PostgresStoreOptions {
  readonly url: string
  readonly projections: readonly Projection[]
  /** The schema must be there already (every command but `init` and `serve`). */
  readonly mustExist?: boolean
  readonly poolSize?: number
}

/** The installation's write lock and its "served" lock (advisory locks are per database). */
const writeLockKey = 0x57617962 // "Wayb"
const servedLockKey = 0x57617963

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return 'postgres://…'
  }
}


/**
 * The PostgreSQL adapter: a pool of connections, every write transaction under the installation's
 * advisory lock (commit-ordered numbering, see executor.ts), decision cycles pipelined (cycle.ts).
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const pool = createPool({ url: options.url, max: options.poolSize ?? 10 })
  const sql = new PostgresSql(pool, writeLockKey)
  const migrations = allMigrations(options.projections)
  try {
    if (options.mustExist) {
      const missing = await missingMigrations(sql, migrations)
      if (missing.length === migrations.filter((m) => m.postgres !== null).length) {
        throw new NoDatabaseError(`no Waybill database at ${redactUrl(options.url)} (run \`waybill init\` first)`)
      }
      if (missing.length > 0) await migrate(sql, migrations)
    } else {
      await migrate(sql, migrations)
    }
  } catch (error) {
    await pool.end().catch(() => {})
    throw error
  }
  return new PostgresStore(sql, options)
}

export class PostgresStore implements Store {
  readonly dialect = 'postgres' as const
  readonly location: string
  readonly events: EventLog
  readonly inbox: Inbox
  readonly epochs: PartitionEpochs
  readonly parking: Parking
  readonly devices: Devices
  readonly installation: Installation
  readonly projections: readonly Projection[]
  readonly #ops: PostgresCycleOps

  constructor(
    readonly sql: PostgresSql,
    private readonly options: PostgresStoreOptions,
  ) {
    this.location = redactUrl(options.url)
    this.events = new EventLog(sql)
    this.inbox = new Inbox(sql)
    this.epochs = new PartitionEpochs(sql)
    this.parking = new Parking(sql)
    this.devices = new Devices(sql)
    this.installation = new Installation(sql)
    this.projections = options.projections
    this.#ops = new PostgresCycleOps(options.projections)
  }

  cycle<T>(start: () => CycleGenerator<T>): Promise<T> {
    return this.sql.write((tx) => this.#ops.run(preparing(tx.connection()), start()))
  }

  submit(commands: readonly NewCommand[]): Promise<SubmitResult[]> {
    return this.sql.write((tx) => this.#ops.insert(preparing(tx.connection()), commands))
  }

  rebuildProjections(onProgress?: (applied: number) => void): Promise<number> {
    return this.sql.write(async (tx) => {
      for (const projection of this.projections) for (const table of projection.tables) await tx.exec(`DELETE FROM ${table}`)
      const log = new EventLog(tx)
      const client = preparing(tx.connection())
      let applied = 0
      let batch: StoredEvent[] = []
      const flush = async () => {
        await this.#ops.project(client, batch)
        applied += batch.length
        batch = []
        onProgress?.(applied)
      }
      for await (const event of log.iterate()) {
        batch.push(event)
        if (batch.length >= 1000) await flush()
      }
      await flush()
      return applied
    })
  }

  importEvents(
    events: readonly ImportedEvent[],
    snapshots: readonly StreamSnapshot[],
  ): Promise<StoredEvent[]> {
    return this.sql.write((tx) =>
      this.#ops.write(preparing(tx.connection()), {
        appends: events.map((e) => ({ streamId: e.streamId, expectedVersion: e.version - 1, events: [{ type: e.type, data: e.data, metadata: e.metadata }], recordedAt: e.recordedAt })),
        outcomes: [],
        snapshots,
        waits: [],
      }),
    )
  }

  /** A session-level advisory lock on a connection of its own; ServedError when another kind holds it. */
  async #lock(kind: 'shared' | 'exclusive'): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.options.url, application_name: 'waybill (served lock)' })
    client.on('error', () => {})
    await client.connect()
    const fn = kind === 'shared' ? 'pg_try_advisory_lock_shared' : 'pg_try_advisory_lock'
    const { rows } = await client.query<{ ok: boolean }>(`SELECT ${fn}($1) AS ok`, [servedLockKey]).catch(async (error: unknown) => {
      await client.end().catch(() => {})
      throw error
    })
    if (!rows[0]!.ok) {
      await client.end().catch(() => {})
      throw new ServedError(
        kind === 'shared'
          ? `an events import is writing to ${this.location}; start the service when it has finished`
          : `${this.location} is being served (a waybill serve or worker process runs on it): stop every process of the installation before importing`,
      )
    }
    return client
  }

  /**
   * The served lock lives in its connection's session: when PostgreSQL ends that session (a restart,
   * a failover, an administrator's pg_terminate_backend) the lock is gone with it, and an import would
   * be let in beside running processes. So the lock is taken again on a new connection, retried every
   * second until it is back; `onLost` hears each loss and each failed attempt.
   */
  async holdServed(onLost: (error: unknown) => void = () => {}) {
    let released = false
    let client = await this.#lock('shared')
    const retake = async () => {
      while (!released) {
        try {
          const next = await this.#lock('shared')
          if (released) return void (await next.end().catch(() => {}))
          client = next
          client.once('end', lost)
          return
        } catch (error) {
          onLost(error)
          await new Promise((resolve) => setTimeout(resolve, 1000).unref())
        }
      }
    }
    function lost() {
      if (released) return
      onLost(new Error('the served lock’s PostgreSQL session ended'))
      void retake()
    }
    client.once('end', lost)
    return {
      release: async () => {
        released = true
        await client.end().catch(() => {})
      },
    }
  }

  async holdExclusive() {
    const client = await this.#lock('exclusive')
    return { release: () => client.end().catch(() => {}) }
  }

  async writable(): Promise<boolean> {
    const row = await this.sql.get<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby')
    return row?.standby === false
  }

  async close(): Promise<void> {
    await this.sql.pool.end().catch(() => {})
  }
}
