import pg from 'pg'
import t from 'tap'
import { projections } from '../../src/storage.js'
import { ask } from '../../src/store/cycle.js'
import { preparing } from '../../src/store/postgres/prepared.js'
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/store.js'
import { isDatabaseUnavailable, isPreparedStatementLost } from '../../src/store/sql.js'
import { createDatabase, postgresLeftOut } from '../helpers/postgres.js'

// The decision cycle's statements on PostgreSQL are prepared once per connection (named after their
// text), not parsed and planned on every call: checked in the server's own list of the session's
// prepared statements.
t.test('a cycle client prepares each text once, under one name per text', async (t) => {
  const leftOut = await postgresLeftOut()
  if (leftOut) return void t.plan(0, leftOut)
  const url = await createDatabase(t)
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())
  const prepared = async () =>
    (await client.query<{ name: string; statement: string }>('SELECT name, statement FROM pg_prepared_statements ORDER BY statement')).rows

  await client.query('SELECT $1::int AS n', [1])
  t.same(await prepared(), [], 'negative control: a plain query with values leaves nothing prepared')

  const cycle = preparing(client as unknown as pg.PoolClient)
  const double = 'SELECT $1::int * 2 AS n'
  const triple = 'SELECT $1::int * 3 AS n'
  t.same((await cycle.query<{ n: number }>(double, [2])).rows, [{ n: 4 }])
  t.same((await cycle.query<{ n: number }>(double, [5])).rows, [{ n: 10 }], 'the second call binds new values')
  t.same((await cycle.query<{ n: number }>(triple, [5])).rows, [{ n: 15 }])
  const rows = await prepared()
  t.same(rows.map((r) => r.statement), [double, triple], 'each text prepared once')
  t.match(rows.map((r) => r.name), [/^waybill_[0-9a-f]{24}$/, /^waybill_[0-9a-f]{24}$/])
  t.not(rows[0]!.name, rows[1]!.name, 'one name per text')

  // Another connection (another client of the pool) gets the same name for the same text.
  const other = new pg.Client({ connectionString: url })
  await other.connect()
  t.teardown(() => other.end())
  await preparing(other as unknown as pg.PoolClient).query(double, [1])
  t.same((await other.query<{ name: string }>('SELECT name FROM pg_prepared_statements')).rows, [{ name: rows[0]!.name }])
})

/** Appends one event to `streamId` after `expected`, in a cycle of its own. */
function append(store: PostgresStore, streamId: string, expected: number) {
  return store.cycle(function* () {
    return yield* ask({ op: 'write', plan: { appends: [{ streamId, expectedVersion: expected, events: [{ type: 'ShipmentRegistered', data: {}, metadata: { commandId: `c${expected}`, machineVersion: '1' } }], recordedAt: 1 }], outcomes: [], snapshots: [], waits: [] } })
  })
}

t.test('the store’s cycles go through it; a connection whose statements are lost is dropped, and the next one prepares again', async (t) => {
  const leftOut = await postgresLeftOut()
  if (leftOut) return void t.plan(0, leftOut)
  // One connection: every cycle and every check below is on the same session (until it is dropped).
  const store = await openPostgresStore({ url: await createDatabase(t), projections, poolSize: 1 })
  t.teardown(() => store.close())
  const preparedNow = () => store.sql.write(async (tx) => (await tx.connection().query<{ name: string }>('SELECT name FROM pg_prepared_statements')).rows.map((r) => r.name))

  await append(store, 'PKG-1', 0)
  const names = await preparedNow()
  t.ok(names.length >= 3 && names.every((name) => /^waybill_[0-9a-f]{24}$/.test(name)), `the cycle’s statements are prepared on its connection (${names.length})`)

  // Behind node-postgres's back (as a pooler in transaction mode would): it still believes them prepared.
  await store.sql.write(async (tx) => {
    await tx.connection().query('DEALLOCATE ALL')
  })
  const lost = await append(store, 'PKG-2', 0).then(() => null, (error: unknown) => error as { code?: string })
  t.equal(lost?.code, '26000', 'the next cycle finds a statement gone')
  t.ok(isDatabaseUnavailable(lost), 'retried or answered 503, never counted against a command')

  await append(store, 'PKG-2', 0)
  t.same((await store.events.readStream('PKG-2')).map((e) => e.version), [1], 'the cycle after it runs on a new connection, which prepares again')
  t.ok((await preparedNow()).length >= 3)
})

t.test('a statement whose result type a migration changed is a lost statement (known by the server’s routine: its message is translated)', async (t) => {
  const leftOut = await postgresLeftOut()
  if (leftOut) return void t.plan(0, leftOut)
  const client = new pg.Client({ connectionString: await createDatabase(t) })
  await client.connect()
  t.teardown(() => client.end())
  await client.query('CREATE TABLE t (a integer)')
  const cycle = preparing(client as unknown as pg.PoolClient)
  await cycle.query('SELECT * FROM t WHERE a = $1', [1])
  await client.query('ALTER TABLE t ADD COLUMN b integer')
  const error = await cycle.query('SELECT * FROM t WHERE a = $1', [1]).then(() => null, (e: unknown) => e as { code?: string; routine?: string })
  t.match(error, { code: '0A000', routine: 'RevalidateCachedQuery' })
  t.ok(isPreparedStatementLost(error))
  t.notOk(isPreparedStatementLost({ ...error, routine: 'transformSelectStmt' }), 'negative control: another unsupported feature is not')
  t.notOk(isPreparedStatementLost(await client.query('SELECT 1/0').then(() => null, (e: unknown) => e)), 'nor is an error about the data')
})
