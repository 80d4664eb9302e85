import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import t from 'tap'
import { openStorage } from '../../src/storage.js'
import { History } from '../helpers/history.js'
import { createDatabase, postgresLeftOut } from '../helpers/postgres.js'
import { runWaybill } from '../helpers/process.js'
import { freePort } from '../helpers/redis.js'
import { runScanner, seeded } from '../helpers/scanners.js'
import { eventually, startTestService, tempDir } from '../helpers/service.js'

// Operations on PostgreSQL through the real CLI: init and doctor (reachable, version, primary,
// migrations), backup that says what to use instead of pretending, replay and verify, and the
// documented way to move a depot from its SQLite file to PostgreSQL: events export → import.
const waybill = runWaybill

t.setTimeout(300_000)

t.test('the CLI on PostgreSQL, and a depot moved there from SQLite', async (t) => {
  const leftOut = await postgresLeftOut()
  if (leftOut) return void t.plan(0, leftOut)
  // The depot: an embedded SQLite installation with a morning of scans and a truck that left.
  const depot = await startTestService(t, { http: true })
  const history = new History()
  await Promise.all(Array.from({ length: 8 }, (_, i) => runScanner({ base: () => depot.service.url!, shipmentId: `MV-${i}`, commands: 12, history, random: seeded(40 + i), trucks: ['TM', 'T2'] })))
  t.equal((await depot.request('POST', '/trucks/TM/commands', { type: 'OPEN', capacity: 5 })).status, 201)
  t.equal((await depot.command('MV-LOAD', { type: 'REGISTER' })).status, 201)
  t.equal((await depot.command('MV-LOAD', { type: 'ASSIGN', truckId: 'TM' })).status, 200)
  t.equal((await depot.request('POST', '/trucks/TM/commands', { type: 'DEPART' })).status, 200)
  const sqliteEnv = { WAYBILL_DATA_DIR: depot.dataDir, REDIS_URL: depot.redis.url, WAYBILL_EMBEDDED_REDIS: 'never' }

  const url = await createDatabase(t)
  const env = { WAYBILL_DATA_DIR: tempDir(t), WAYBILL_DATABASE_URL: url, REDIS_URL: depot.redis.url, WAYBILL_EMBEDDED_REDIS: 'never' }

  t.test('doctor: a database without the schema fails, init creates it, then it names the server', async (t) => {
    const empty = await waybill(['doctor', '--json'], env)
    t.equal(empty.code, 1)
    t.match(JSON.parse(empty.stdout).find((c: { name: string }) => c.name === 'postgres'), { status: 'fail', detail: /missing migrations|no waybill database|does not exist/i })
    const init = await waybill(['init'], env)
    t.equal(init.code, 0, init.stderr)
    t.match(JSON.parse(init.stdout), { database: /postgres:\/\/postgres@127\.0\.0\.1:5432\/waybill_test_/ })
    t.notMatch(init.stdout, /password/i)
    const checks = await waybill(['doctor', '--json'], env)
    t.match(JSON.parse(checks.stdout).find((c: { name: string }) => c.name === 'postgres'), { status: 'ok', detail: /PostgreSQL \d+(\.\d+)?.*, primary, migrations complete, 0 events/ })
    // On PostgreSQL the data directory only holds an embedded redis-server's files: its absence is no failure.
    const noDir = await waybill(['doctor', '--json'], { ...env, WAYBILL_DATA_DIR: join(tempDir(t), 'absent') })
    t.equal(noDir.code, 0, noDir.stdout)
    t.match(JSON.parse(noDir.stdout).find((c: { name: string }) => c.name === 'disk'), { status: 'ok', detail: /does not exist: the data is in PostgreSQL/ })
    const port = await freePort()
    const away = await waybill(['doctor', '--json'], { ...env, WAYBILL_DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/nothing` })
    t.equal(away.code, 1)
    t.match(JSON.parse(away.stdout).find((c: { name: string }) => c.name === 'postgres'), { status: 'fail', detail: /WAYBILL_DATABASE_URL: .*ECONNREFUSED/ })
  })

  t.test('events export (SQLite) → import (PostgreSQL) → verify: the same shipments and trucks, event for event', async (t) => {
    const exported = await waybill(['events', 'export'], sqliteEnv)
    t.equal(exported.code, 0, exported.stderr)
    const file = join(tempDir(t), 'events.ndjson')
    writeFileSync(file, exported.stdout)
    const imported = await waybill(['events', 'import', file], env)
    t.equal(imported.code, 0, imported.stderr)
    t.same(JSON.parse(imported.stdout), { imported: exported.stdout.trim().split('\n').length })
    const verified = await waybill(['verify'], env)
    t.equal(verified.code, 0, verified.stdout)
    t.match(JSON.parse(verified.stdout), { problems: [] })
    const moved = await openStorage({ databaseFile: join(env.WAYBILL_DATA_DIR, 'waybill.db'), databaseUrl: url, busyTimeoutMs: 1000, bootstrapToken: undefined })
    t.teardown(() => moved.close())
    t.same((await moved.queries.list({ limit: 500 })).items, (await depot.service.storage.queries.list({ limit: 500 })).items, 'the shipments read model')
    for (const stream of ['MV-3', 'MV-LOAD', 'truck:TM']) t.same(await moved.store.events.readStream(stream), await depot.service.storage.store.events.readStream(stream), `${stream}: events identical`)
    const replayed = await waybill(['replay', 'TM', '--truck'], env)
    t.equal(replayed.code, 0, replayed.stderr)
    t.same(replayed.stdout, (await waybill(['replay', 'TM', '--truck'], sqliteEnv)).stdout, 'replay tells the same story on both')
    t.match(replayed.stdout, /TruckDeparted\s+→ departed\s+load 1/)
    const doctor = await waybill(['doctor', '--json'], env)
    t.match(JSON.parse(doctor.stdout).find((c: { name: string }) => c.name === 'postgres'), { status: 'ok', detail: /[1-9]\d* events/ })
  })

  t.test('backup on PostgreSQL says what to use and writes nothing', async (t) => {
    const file = join(tempDir(t), 'backup.dump')
    const res = await waybill(['backup', file], env)
    t.equal(res.code, 2)
    t.match(res.stderr, /PostgreSQL.*pg_dump --format=custom --file=.*backup\.dump "\$WAYBILL_DATABASE_URL"/)
    t.notOk(existsSync(file))
  })
})

t.test('the served lock outlives its PostgreSQL session: ended by the server, it is taken again and an import stays refused', async (t) => {
  const leftOut = await postgresLeftOut()
  if (leftOut) return void t.plan(0, leftOut)
  const url = await createDatabase(t)
  const storage = await openStorage({ databaseFile: join(tempDir(t), 'unused.db'), databaseUrl: url, busyTimeoutMs: 1000, bootstrapToken: undefined })
  t.teardown(() => storage.close())
  const losses: unknown[] = []
  const served = await storage.store.holdServed((error) => losses.push(error))
  t.teardown(() => served.release())
  await t.rejects(storage.store.holdExclusive(), { name: 'ServedError' }, 'an import is refused while the installation is served')

  // A restart, a failover or an administrator ends the lock's session (and the lock with it).
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  t.teardown(() => admin.end())
  const ended = await admin.query<{ ended: boolean }>(
    `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'waybill (served lock)'`,
  )
  t.same(ended.rows.map((r) => r.ended), [true], 'the server ended the served lock’s session')
  await eventually(async () => (losses.length > 0 ? true : undefined), 10_000, 'the loss to be reported')
  const sharedLocks = async () =>
    (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND mode = 'ShareLock' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)).rows[0]!.n
  await eventually(async () => ((await sharedLocks()) === 1 ? true : undefined), 10_000, 'the served lock to be held again')
  await t.rejects(storage.store.holdExclusive(), { name: 'ServedError' }, 'an import is still refused')
  await served.release()
  await eventually(async () => ((await sharedLocks()) === 0 ? true : undefined), 10_000, 'release to end the lock for good (not taken again)')
  const exclusive = await storage.store.holdExclusive()
  await exclusive.release()
  t.pass('after release, an import may take the installation')
})
