import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import type { Statement } from 'better-sqlite3'
import type { Params, Sql, WriteOptions } from '../sql.js'

export type Db = Database.Database

export interface DatabaseOptions {
  /** Milliseconds a writer waits for the lock; keep it far below the queue's stall interval. */
  readonly busyTimeoutMs: number
  readonly readonly?: boolean
}

/**
 * Opens the SQLite file with the pragmas every connection must have: WAL, `synchronous=FULL` (a
 * committed command survives power loss; better-sqlite3 would default WAL to NORMAL), foreign keys, and
 * a bounded busy timeout. Write transactions are `BEGIN IMMEDIATE`, so a writer takes the lock up front.
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
 * One connection's turns. better-sqlite3 is synchronous, so a statement can only interleave with a
 * transaction at an `await` of the transaction's owner; the gate makes everyone else wait there
 * (`pass`) while a write transaction is open, so nothing joins it by accident.
 */
export class Gate {
  #open: Promise<void> | null = null

  /** Resolves when no write transaction is open (at once, usually). */
  async pass(): Promise<void> {
    while (this.#open) await this.#open
  }

  get closed(): boolean {
    return this.#open !== null
  }

  /**
   * Waits for the gate to open and closes it behind the caller, in one step (no other waiter can pass
   * between the two); the returned function opens it again.
   */
  async acquire(): Promise<() => void> {
    while (this.#open) await this.#open
    let release!: () => void
    this.#open = new Promise((resolve) => (release = resolve))
    return () => {
      this.#open = null
      release()
    }
  }
}

/** better-sqlite3 binds numbers, strings, null and buffers: booleans become 0/1, arrays JSON (for `json_each`). */
function bind(params: Params | undefined): Record<string, unknown> {
  if (!params) return {}
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(params)) {
    out[key] = value === undefined ? null : typeof value === 'boolean' ? (value ? 1 : 0) : Array.isArray(value) ? JSON.stringify(value) : value
  }
  return out
}

/** The SQLite executor: prepared statements cached per text; see `Sql` and `Gate`. */
export class SqliteSql implements Sql {
  readonly dialect = 'sqlite' as const
  readonly #statements: Map<string, Statement>
  readonly #gate: Gate
  readonly #insideTransaction: boolean

  constructor(
    readonly db: Db,
    gate: Gate = new Gate(),
    statements: Map<string, Statement> = new Map(),
    insideTransaction = false,
  ) {
    this.#gate = gate
    this.#statements = statements
    this.#insideTransaction = insideTransaction
  }

  get gate(): Gate {
    return this.#gate
  }

  get inTransaction(): boolean {
    return this.#insideTransaction && this.db.inTransaction
  }

  statement(sql: string): Statement {
    let statement = this.#statements.get(sql)
    if (!statement) {
      statement = this.db.prepare(sql)
      this.#statements.set(sql, statement)
    }
    return statement
  }

  async #turn(): Promise<void> {
    if (!this.#insideTransaction && this.#gate.closed) await this.#gate.pass()
  }

  async all<T>(sql: string, params?: Params): Promise<T[]> {
    await this.#turn()
    return this.statement(sql).all(bind(params)) as T[]
  }

  async get<T>(sql: string, params?: Params): Promise<T | undefined> {
    await this.#turn()
    return this.statement(sql).get(bind(params)) as T | undefined
  }

  async run(sql: string, params?: Params): Promise<number> {
    await this.#turn()
    return this.statement(sql).run(bind(params)).changes
  }

  async exec(sql: string): Promise<void> {
    await this.#turn()
    this.db.exec(sql)
  }

  async write<T>(work: (tx: Sql) => Promise<T>, options: WriteOptions = {}): Promise<T> {
    if (this.#insideTransaction) return work(this)
    const release = await this.#gate.acquire()
    try {
      if (options.nowait) {
        const busy = this.db.pragma('busy_timeout', { simple: true }) as number
        this.db.pragma('busy_timeout = 0')
        try {
          this.db.exec('BEGIN IMMEDIATE')
        } finally {
          this.db.pragma(`busy_timeout = ${busy}`)
        }
      } else {
        this.db.exec('BEGIN IMMEDIATE')
      }
      try {
        const result = await work(new SqliteSql(this.db, this.#gate, this.#statements, true))
        this.db.exec('COMMIT')
        return result
      } catch (error) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK')
        throw error
      }
    } finally {
      release()
    }
  }

  /**
   * Runs `work` synchronously in one `BEGIN IMMEDIATE` transaction, after any open write transaction
   * ended (the decision cycle: better-sqlite3's own transaction function, nothing awaited inside).
   */
  async writeSync<T>(work: () => T): Promise<T> {
    const release = await this.#gate.acquire()
    try {
      return this.db.transaction(work).immediate()
    } finally {
      release()
    }
  }
}
