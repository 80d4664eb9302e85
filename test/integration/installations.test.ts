import { createServer } from 'node:net'
import { Writable } from 'node:stream'
import { join } from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { startService } from '../../src/service.js'
import { openStorage } from '../../src/storage.js'
import { sqliteDb } from '../helpers/db.js'
import { spawnWaybill } from '../helpers/process.js'
import { freePort, leasePartitionsElsewhere, startRedis } from '../helpers/redis.js'
import { eventually, startTestService, tempDir, testConfig } from '../helpers/service.js'

// Installations on one Redis never disturb each other (each its own key namespace, named by an id in
// its database); a process with another partition count is refused while its installation runs; a
// start that fails never takes partitions; unowned partitions and long waits are reported.

// Real serve/worker processes and CLI runs: on a loaded 2-core machine more than the default timeout.
t.setTimeout(480_000)

t.test('two installations on one Redis each keep all their partitions and decide every command', async (t) => {
  const redis = await startRedis(t)
  const a = await startTestService(t, { redis })
  const b = await startTestService(t, { redis })
  t.not((await a.service.storage.store.installation.info()).id, (await b.service.storage.store.installation.info()).id, 'each database has its own installation id')
  // Give the two owners several rounds to (wrongly) balance partitions between them.
  for (let round = 0; round < 4; round++) {
    await a.service.ownership.tick()
    await b.service.ownership.tick()
  }
  t.equal(a.service.worker.held().size, 8, 'the first keeps its 8 partitions')
  t.equal(b.service.worker.held().size, 8, 'the second holds its own 8')
  for (const [name, api] of [['a', a], ['b', b]] as const) {
    const answers = await Promise.all(Array.from({ length: 16 }, (_, i) => api.command(`TWO-${name}-${i}`, { type: 'REGISTER' })))
    t.same(answers.map((r) => r.status), Array(16).fill(201), `installation ${name}: every REGISTER decided`)
  }
})

t.test('a process with another WAYBILL_PARTITIONS is refused while the installation runs', async (t) => {
  const redis = await startRedis(t)
  const api = await startTestService(t, { redis })
  await t.rejects(
    startService(testConfig({ REDIS_URL: redis.url, WAYBILL_DATA_DIR: api.dataDir, WAYBILL_PARTITIONS: '4' }), { api: false, logger: pino({ level: 'silent' }) }),
    { name: 'PartitionCountError', message: /WAYBILL_PARTITIONS=4, but 1 live process\(es\) of this installation run with 8 partitions/ },
  )
  const worker = spawnWaybill(t, ['worker'], { REDIS_URL: api.redis.url, WAYBILL_DATA_DIR: api.dataDir, WAYBILL_PARTITIONS: '4', WAYBILL_LOG_LEVEL: 'warn' })
  t.equal(await worker.exited, 2, 'waybill worker exits 2 (a configuration error)')
  t.match(worker.lines.join('\n'), /^waybill: WAYBILL_PARTITIONS=4, but .* use WAYBILL_PARTITIONS=8/m, 'in one line naming the count to use')
  t.equal(worker.lines.length, 1, 'and nothing else')
  await api.service.ownership.tick()
  t.equal(api.service.worker.held().size, 8, 'the running installation kept its partitions')
  t.same(sqliteDb(api.service.storage).prepare('SELECT DISTINCT owner FROM partitions').pluck().all(), [api.service.owner], 'nobody else claimed an epoch')

  await api.service.close()
  const changed = await startService(testConfig({ REDIS_URL: redis.url, WAYBILL_DATA_DIR: api.dataDir, WAYBILL_PARTITIONS: '4' }), { api: false, logger: pino({ level: 'silent' }) })
  t.teardown(() => changed.close())
  t.equal((await changed.storage.store.installation.info()).partitions, 4, 'with every process stopped the count may change, and is recorded')
})

t.test('a start that fails to listen takes no partition', async (t) => {
  const redis = await startRedis(t)
  const dataDir = tempDir(t)
  const busy = createServer()
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
  t.teardown(() => busy.close())
  const port = (busy.address() as { port: number }).port
  for (const env of [{ PORT: String(port) } as Record<string, string>, { PORT: String(await freePort()), HOST: '192.0.2.1' }]) {
    const serve = spawnWaybill(t, ['serve'], { REDIS_URL: redis.url, WAYBILL_DATA_DIR: dataDir, WAYBILL_EMBEDDED_REDIS: 'never', WAYBILL_LOG_LEVEL: 'warn', ...env })
    t.equal(await serve.exited, 2, `${JSON.stringify(env)}: exit 2`)
    t.match(serve.lines.join('\n'), /^waybill: cannot listen on .*(in use|not an address of this machine)/m, 'one line saying why')
    t.equal(serve.lines.length, 1, 'no stack trace')
  }
  const storage = await openStorage({ databaseFile: join(dataDir, 'waybill.db'), databaseUrl: undefined, busyTimeoutMs: 1000, bootstrapToken: undefined })
  t.teardown(() => storage.close())
  t.equal(sqliteDb(storage).prepare('SELECT count(*) FROM partitions').pluck().get(), 0, 'no fencing epoch was claimed')
})

t.test('unowned partitions and long waits: /ready 503, a warn log, doctor', async (t) => {
  const redis = await startRedis(t)
  const lines: string[] = []
  const logger = pino({ level: 'warn' }, new Writable({ write: (chunk, _, done) => (lines.push(String(chunk)), done()) }))
  const dataDir = tempDir(t)
  // An API-only serve and no worker: nobody decides.
  const config = testConfig({ REDIS_URL: redis.url, WAYBILL_DATA_DIR: dataDir, WAYBILL_MAX_PARTITIONS: '0', WAYBILL_STALL_INTERVAL_MS: '1000' })
  const service = await startService(config, { api: true, listen: false, logger })
  t.teardown(() => service.close())
  const ready = await service.app!.inject({ method: 'GET', url: '/ready', headers: { authorization: `Bearer ${config.bootstrapToken}` } })
  t.equal(ready.statusCode, 503)
  t.match(ready.json(), { status: 'unavailable', checks: { sqlite: true, redis: true, partitions: false } })
  await eventually(() => lines.find((l) => /"level":40.*partitions 0,1,2,3,4,5,6,7 have no owner/.test(l)), 10_000, 'a warn log naming the unowned partitions')

  const { runWaybill } = await import('../helpers/process.js')
  const doctor = await runWaybill(['doctor', '--json'], { REDIS_URL: redis.url, WAYBILL_DATA_DIR: dataDir })
  const checks = JSON.parse(doctor.stdout) as Array<{ name: string }>
  t.match(checks.find((c) => c.name === 'partitions'), { status: 'fail', detail: /partitions 0,1,2,3,4,5,6,7 have no owner.*1 live process/ }, 'doctor names the unowned partitions (a running installation that decides nothing fails)')

  // Commands waiting too long, with every partition owned (by someone who never decides).
  const slowDir = tempDir(t)
  await leasePartitionsElsewhere(redis, slowDir)
  const slow = await startTestService(t, { redis, dataDir: slowDir, env: { WAYBILL_MAX_WAIT_MS: '1000', WAYBILL_REPLY_TIMEOUT_MS: '0' } })
  t.equal((await slow.request('GET', '/ready')).status, 200, 'ready while nothing waits')
  t.equal((await slow.command('W-1', { type: 'REGISTER' })).status, 202)
  const late = await eventually(async () => {
    const res = await slow.request('GET', '/ready')
    return res.status === 503 ? res : undefined
  }, 10_000, '/ready to report the wait')
  t.match(late.body, { checks: { partitions: false } })
})
