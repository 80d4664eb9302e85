import pg from 'pg'
import { isPreparedStatementLost, positional, type Params, type Sql, type WriteOptions } from '../sql.js'

/**
 * The PostgreSQL executor (node-postgres, pooled). Statements come in the shared dialect with `@name`
 * parameters and go out as `$n` (see `positional`); BIGINT (oid 20) is parsed as a number.
 *
 * Every write transaction takes the installation's advisory lock first (`pg_advisory_xact_lock`,
 * released by COMMIT or ROLLBACK, also when the process dies): commands and events are numbered by
 * their sequences inside it, so numbers are handed out in commit order and a reader of the feed can
 * never pass a position whose transaction has not committed yet (see docs/design.md, *PostgreSQL*).
 * Connections pipeline their queries: the statements a cycle sends together cost one round trip.
 */
const int8 = 20
const numeric = 1700
const types = {
  getTypeParser(oid: number, format?: string) {
    if (oid === int8 || oid === numeric) return (value: string) => Number(value)
    return pg.types.getTypeParser(oid, format as 'text')
  },
} as unknown as pg.CustomTypesConfig

export interface PostgresOptions {
  readonly url: string
  /** The installation's write lock (pg_advisory_xact_lock key). */
  readonly lockKey: number
  readonly max?: number
  /** Milliseconds a query may run before it is cancelled (a lost network must not hang a cycle). */
  readonly statementTimeoutMs?: number
  /**
   * Milliseconds a transaction may sit idle before the server ends its session. A process paused
   * inside a write transaction (GC, SIGSTOP, a VM migration) would otherwise hold the installation's
   * write lock, and so stop every other process's writes, for as long as it is paused.
   */
  readonly idleInTransactionMs?: number
}

export function createPool(options: Pick<PostgresOptions, 'url' | 'max' | 'statementTimeoutMs' | 'idleInTransactionMs'>): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    types,
    pipeline: true,
    connectionTimeoutMillis: 5000,
    statement_timeout: options.statementTimeoutMs ?? 30_000,
    idle_in_transaction_session_timeout: options.idleInTransactionMs ?? 5_000,
    application_name: 'waybill',
  } as pg.PoolConfig)
  // An idle client that loses its connection emits here; the pool replaces it.
  pool.on('error', () => {})
  return pool
}

type Queryable = Pick<pg.PoolClient, 'query'>

async function query<T>(on: Queryable, sql: string, params: Params | undefined): Promise<pg.QueryResult<T & pg.QueryResultRow>> {
  try {
    if (!params) return await on.query<T & pg.QueryResultRow>(sql)
    const { text, names } = positional(sql)
    return await on.query<T & pg.QueryResultRow>(text, names.map((name) => (params[name] === undefined ? null : params[name])))
  } catch (error) {
    throw connectionLost(error)
  }
}

/**
 * node-postgres reports a connection that died under a query ("Connection terminated unexpectedly",
 * a client "not queryable" after its connection error) without a SQLSTATE: it gets 08006
 * (connection_failure), so that everyone above treats it as the database being away — retried or a
 * 503 — and never as something wrong with a command.
 */
export function connectionLost(error: unknown): unknown {
  const e = error as { code?: unknown; message?: unknown } | null
  if (e && typeof e === 'object' && e.code === undefined && typeof e.message === 'string' && /connection terminated|not queryable|connection error|Connection ended/i.test(e.message)) {
    return Object.assign(e, { code: '08006' })
  }
  return error
}

export class PostgresSql implements Sql {
  readonly dialect = 'postgres' as const

  constructor(
    readonly pool: pg.Pool,
    readonly lockKey: number,
    private readonly client: pg.PoolClient | null = null,
  ) {}

  get inTransaction(): boolean {
    return this.client !== null
  }

  /** The transaction's connection (the decision cycle talks to it directly). */
  connection(): pg.PoolClient {
    if (!this.client) throw new Error('no transaction: connection() is for code inside write()')
    return this.client
  }

  async all<T>(sql: string, params?: Params): Promise<T[]> {
    return (await query<T>(this.client ?? this.pool, sql, params)).rows
  }

  async get<T>(sql: string, params?: Params): Promise<T | undefined> {
    return (await query<T>(this.client ?? this.pool, sql, params)).rows[0]
  }

  async run(sql: string, params?: Params): Promise<number> {
    return (await query(this.client ?? this.pool, sql, params)).rowCount ?? 0
  }

  async exec(sql: string): Promise<void> {
    await (this.client ?? this.pool).query(sql)
  }

  /** A transaction on one connection, holding the installation's write lock. */
  async write<T>(work: (tx: PostgresSql) => Promise<T>, options: WriteOptions = {}): Promise<T> {
    if (this.client) return work(this)
    const client = await this.pool.connect().catch((error: unknown) => {
      throw connectionLost(error)
    })
    let broken = false
    // A checked-out client whose connection dies emits 'error': without a listener that would be an
    // uncaught exception (the process would die with the database's restart). The query in flight
    // fails too, and the client is not given back to the pool.
    const lost = () => {
      broken = true
    }
    client.on('error', lost)
    try {
      await client.query('BEGIN')
      try {
        if (options.nowait) {
          const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [this.lockKey])
          if (!rows[0]!.ok) throw Object.assign(new Error('another process holds the write lock'), { code: '55P03' })
        } else {
          await client.query('SELECT pg_advisory_xact_lock($1)', [this.lockKey])
        }
        const result = await work(new PostgresSql(this.pool, this.lockKey, client))
        await client.query('COMMIT')
        return result
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {
          broken = true
        })
        throw error
      }
    } catch (error) {
      // A lost connection, or one whose prepared statements are lost: not given back to the pool.
      broken ||= isConnectionError(connectionLost(error)) || isPreparedStatementLost(error)
      throw connectionLost(error)
    } finally {
      client.off('error', lost)
      client.release(broken)
    }
  }
}

function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && (/^(08|57P)/.test(code) || ['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT'].includes(code))
}
