/**
 * The storage port's SQL executor: what every module outside the hot path (reads, tokens, parking,
 * the installation, operations) uses, written once for both adapters.
 *
 * Statements are written in the SQL that SQLite and PostgreSQL share, with named parameters
 * (`@name`); the PostgreSQL executor turns them into `$1…$n`. Where the dialects differ, a module asks
 * `sql.dialect` (or uses `inList`). Integers come back as JavaScript numbers on both (PostgreSQL's
 * BIGINT is parsed as a number: positions, sequence numbers and epoch milliseconds stay far below 2^53).
 *
 * Writes that must be atomic go through `write(work)`: one transaction, and the only writer of the
 * installation while it runs — SQLite takes its write lock (`BEGIN IMMEDIATE`), PostgreSQL the
 * installation's advisory lock, so commands and events are numbered in commit order on both. `work`
 * may await, but only the executor it is given runs inside the transaction: other callers of this
 * executor wait until it has ended (on SQLite a statement of theirs would otherwise join it).
 */
export type Dialect = 'sqlite' | 'postgres'

/** Named parameters. Arrays are passed as arrays (PostgreSQL) or as JSON text (SQLite, for `json_each`). */
export type Params = Readonly<Record<string, unknown>>

export interface Sql {
  readonly dialect: Dialect
  all<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T[]>
  get<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T | undefined>
  /** Runs a statement; resolves with the number of rows it changed. */
  run(sql: string, params?: Params): Promise<number>
  /** Runs several statements without parameters (schema changes). */
  exec(sql: string): Promise<void>
  /**
   * One write transaction (see above); rolled back if `work` throws. `nowait`: when another process
   * holds the write lock, fail at once (an error `isDatabaseUnavailable` recognises) instead of waiting.
   */
  write<T>(work: (tx: Sql) => Promise<T>, options?: WriteOptions): Promise<T>
  /** True inside `write` (the contracts of "call inside the write transaction" assert it). */
  readonly inTransaction: boolean
}

export interface WriteOptions {
  readonly nowait?: boolean
}

/** `column IN (…@param…)` in each dialect, for a parameter holding an array. */
export function inList(sql: Pick<Sql, 'dialect'>, column: string, param: string): string {
  return sql.dialect === 'postgres' ? `${column} = ANY(@${param})` : `${column} IN (SELECT value FROM json_each(@${param}))`
}

/** A schema change, in the SQL of each dialect (`null`: nothing to do there). Applied once each, in order. */
export interface Migration {
  /** Unique and stable forever, e.g. `store/1-events`. */
  readonly id: string
  readonly sqlite: string | null
  readonly postgres: string | null
}

/** A write that must share the caller's transaction was made outside one (a programming error). */
export class NotInTransactionError extends Error {
  override readonly name = 'NotInTransactionError'
}

/**
 * Enforces a "call inside the write transaction" contract: outside one, each statement would commit
 * on its own (an event without its outcome, an epoch check that guards nothing), so refuse instead.
 */
export function assertInTransaction(sql: { readonly inTransaction: boolean }, what: string): void {
  if (!sql.inTransaction) throw new NotInTransactionError(`${what} must run inside the caller's write transaction`)
}

/**
 * Errors that say the database cannot take this write right now (locked by another process, full,
 * failing I/O, a lost connection) rather than anything about the data: retried, or answered 503,
 * never counted against a command.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return false
  // SQLite result codes; PostgreSQL SQLSTATE classes 08 (connection), 53 (resources: disk full,
  // out of memory, too many connections), 57P (operator intervention: shutdown), 40P01 deadlock,
  // 55P03 lock not available, 25006 read-only transaction, a connection's prepared statements lost;
  // node's socket errors.
  return (
    isPreparedStatementLost(error) ||
    /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY|PROTOCOL|NOMEM)/.test(code) ||
    /^(08|53|57P)/.test(code) ||
    ['40P01', '55P03', '25006', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'POOL_TIMEOUT'].includes(code)
  )
}

/**
 * A PostgreSQL connection whose prepared statements are out of step with its session (postgres/
 * prepared.ts): one the client believes prepared is gone (26000) or one it prepares is already there
 * (42P05), as behind a pooler that hands the session to another client, or a statement whose result
 * type a migration changed under a running process (0A000, "cached plan must not change result
 * type"). Nothing about the data: the connection is dropped and the next one prepares again.
 */
export function isPreparedStatementLost(error: unknown): boolean {
  // The changed result type by the server's routine: its message is translated with lc_messages.
  const { code, routine } = (error ?? {}) as { code?: unknown; routine?: unknown }
  return code === '26000' || code === '42P05' || (code === '0A000' && routine === 'RevalidateCachedQuery')
}

/** `@name` → `$n` (PostgreSQL), with the order of the names; cached per statement text. */
const translated = new Map<string, { text: string; names: readonly string[] }>()
export function positional(sql: string): { text: string; names: readonly string[] } {
  let found = translated.get(sql)
  if (!found) {
    const names: string[] = []
    const text = sql.replace(/@([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => {
      let index = names.indexOf(name)
      if (index < 0) index = names.push(name) - 1
      return `$${index + 1}`
    })
    found = { text, names }
    if (translated.size < 10_000) translated.set(sql, found)
  }
  return found
}
