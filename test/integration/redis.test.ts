import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { call } from '../../src/queue/redis.js'
import { startCluster } from '../helpers/cluster.js'
import { checkHistory, History } from '../helpers/history.js'
import { startRedis } from '../helpers/redis.js'
import { runScanner, seeded } from '../helpers/scanners.js'
import { eventually, startTestService } from '../helpers/service.js'

t.test('while Redis is down: commands answer 503 + Retry-After within a second, reads work; it recovers by itself', async (t) => {
  const redis = await startRedis(t)
  const api = await startTestService(t, { redis })
  t.equal((await api.command('RD-1', { type: 'REGISTER' })).status, 201)
  await redis.kill()
  await eventually(() => (api.service.queues.available() ? undefined : true), 2000, 'the loss to be noticed')

  const started = Date.now()
  const refused = await api.command('RD-1', { type: 'ASSIGN', truckId: 'T1' })
  const took = Date.now() - started
  t.equal(refused.status, 503)
  t.equal(refused.headers['retry-after'], '1')
  t.match(refused.body, { type: '/problems/unavailable', detail: /Redis/ })
  t.ok(took < 1000, `answered in ${took} ms`)
  t.match(await api.request('GET', '/shipments/RD-1'), { status: 200, body: { state: 'registered' } }, 'reads keep working')
  t.match(await api.request('GET', '/ready'), { status: 503, body: { checks: { redis: false, sqlite: true } } })
  t.equal(api.service.storage.db.prepare(`SELECT count(*) FROM commands WHERE stream_id = 'RD-1'`).pluck().get(), 1, 'the refused command was not recorded')

  // Down for longer than a reconnect budget: the clients must never give up retrying.
  await sleep(4000)
  await redis.restart()
  await eventually(() => (api.service.queues.available() ? true : undefined), 10_000, 'the reconnection')
  // The restarted Redis has no scripts: bee-queue would answer NOSCRIPT unless they were reloaded.
  await eventually(async () => {
    try {
      await api.service.queues.wake(0, { commandId: `probe-${Date.now()}`, shipmentId: 'probe' })
      return true
    } catch {
      return undefined
    }
  }, 10_000, 'a wake-up job to be accepted again')
  t.pass('the queue scripts were reloaded (no NOSCRIPT)')
  t.equal((await api.command('RD-1', { type: 'ASSIGN', truckId: 'T1' })).status, 200, 'commands flow again')
})

t.test('kill -9 and restart of Redis, then FLUSHALL, under load: nothing acknowledged is lost', async (t) => {
  const cluster = await startCluster(t, { WAYBILL_LOG_LEVEL: 'warn' })
  await cluster.serve()
  cluster.worker()
  const history = new History()
  const random = seeded(99)
  let answered = 0
  const events: string[] = []
  const faults = (async () => {
    await eventually(() => (answered >= 300 ? true : undefined), 60_000, '300 answers')
    await cluster.redis.kill()
    events.push(`redis killed after ${answered}`)
    await new Promise((resolve) => setTimeout(resolve, 1500))
    await cluster.redis.restart()
    events.push(`redis restarted after ${answered}`)
    await eventually(() => (answered >= 900 ? true : undefined), 60_000, '900 answers')
    const { createRedisClient, clientReady, quit } = await import('../../src/queue/redis.js')
    const client = createRedisClient(cluster.redis.url, 'test')
    await clientReady(client, 2000)
    await call(2000, 'flushall', (done) => client.flushall(done))
    await quit(client)
    events.push(`FLUSHALL after ${answered}`)
  })()
  await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      runScanner({ base: () => cluster.base, shipmentId: `RL-${i}`, commands: 40, history, random, onAnswered: () => void answered++ }),
    ),
  )
  await faults
  const storage = cluster.storage()
  await eventually(() => (storage.inbox.countPending() === 0 ? true : undefined), 20_000, 'the inbox to drain')
  const result = checkHistory(storage, history)
  t.comment(events.join('; '))
  t.comment(JSON.stringify(result.stats))
  t.ok((result.stats.statuses['503'] ?? 0) > 0, 'some requests were refused with 503 while Redis was away')
  t.same(result.problems, [], 'the history satisfies I1–I7 and the oracle')
})

t.test('while Redis is down, a retry of a decided command still gets its first answer', async (t) => {
  const redis = await startRedis(t)
  const api = await startTestService(t, { redis })
  const key = { 'idempotency-key': 'retry-1' }
  const first = await api.command('RR-1', { type: 'REGISTER' }, key)
  t.equal(first.status, 201)
  await redis.kill()
  await eventually(() => (api.service.queues.available() ? undefined : true), 2000, 'the loss to be noticed')
  const again = await api.command('RR-1', { type: 'REGISTER' }, key)
  t.equal(again.status, 201)
  t.same(again.body, first.body)
  t.equal(again.headers['idempotent-replayed'], 'true')
  t.equal((await api.command('RR-1', { type: 'CANCEL' }, key)).status, 422, 'another body with the key is still refused')
  t.equal((await api.command('RR-1', { type: 'CANCEL' })).status, 503, 'a new command is refused')
})
