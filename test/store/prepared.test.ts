import pg from 'pg'
import t from 'tap'
import { preparing } from '../../src/store/postgres/prepared.js'
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
