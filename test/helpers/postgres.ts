import { randomBytes } from 'node:crypto'
import pg from 'pg'

/**
 * A PostgreSQL database of its own for one test, on the machine's server (127.0.0.1:5432, user
 * postgres, trust auth; `WAYBILL_TEST_POSTGRES` names another server): created here, dropped at
 * teardown (connections still open to it are ended first).
 */
export const postgresServer = process.env.WAYBILL_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432'

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: `${postgresServer}/postgres` })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}

export async function createDatabase(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const name = `waybill_test_${process.pid}_${randomBytes(4).toString('hex')}`
  await admin((client) => client.query(`CREATE DATABASE ${name}`))
  t.teardown(() => admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)))
  return `${postgresServer}/${name}`
}

/**
 * Why this run leaves the PostgreSQL tests out (false: they run). `WAYBILL_TEST_ADAPTERS` without
 * `postgres` (CI's second pass, on another Node: the PostgreSQL client is pure JavaScript, the same on
 * every Node, and runs in the first); outside CI, no server answering. Under CI a missing server is
 * an error, never a reason to pass by skipping.
 */
export async function postgresLeftOut(): Promise<string | false> {
  const selected = process.env.WAYBILL_TEST_ADAPTERS?.split(',').map((a) => a.trim())
  if (selected && !selected.includes('postgres')) return `WAYBILL_TEST_ADAPTERS=${selected.join(',')}`
  if (await postgresAvailable()) return false
  if (process.env.CI === 'true') throw new Error('no PostgreSQL server answers at 127.0.0.1:5432 (.ci/run installs and starts one)')
  return 'no PostgreSQL server answers at 127.0.0.1:5432'
}

/** Whether a PostgreSQL server answers (CI installs and starts one; see .ci/run). */
export async function postgresAvailable(): Promise<boolean> {
  try {
    await admin((client) => client.query('SELECT 1'))
    return true
  } catch {
    return false
  }
}
