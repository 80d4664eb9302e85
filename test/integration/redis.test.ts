import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { partitionOf } from '../../src/queue/partitions.js'
import { call } from '../../src/queue/redis.js'
import { startCluster } from '../helpers/cluster.js'
import { eachAdapter } from '../helpers/adapters.js'
import { checkHistory, History } from '../helpers/history.js'
import { leasePartitionsElsewhere, startRedis } from '../helpers/redis.js'
import { runScanner, seeded } from '../helpers/scanners.js'
import { eventually, startTestService, tempDir } from '../helpers/service.js'

eachAdapter(t, 'while Redis is down: commands are taken in and decided as usual (no 503), reads work; it recovers by itself', async (t, adapter) => {
  const redis = await startRedis(t)
  const api = await startTestService(t, { redis, env: adapter.env })
  t.equal((await api.command('RD-1', { type: 'REGISTER' })).status, 201)
  const epochs = await Promise.all(Array.from({ length: 8 }, (_, p) => api.service.storage.store.epochs.current(p)))
  t.equal(api.service.worker.held().size, 8, 'the only node holds every partition')
  await redis.kill()
  await eventually(() => (api.service.queues.available() ? undefined : true), 2000, 'the loss to be noticed')

  const started = Date.now()
  const assigned = await api.command('RD-1', { type: 'ASSIGN', truckId: 'T1' })
  const took = Date.now() - started
  t.equal(assigned.status, 200, 'decided, not refused')
  t.match(assigned.body, { outcome: 'accepted', shipment: { state: 'assigned', truckId: 'T1' } })
  t.ok(took < api.config.replyTimeoutMs, `answered in ${took} ms, not after the reply timeout`)
  t.match(await api.request('GET', '/shipments/RD-1'), { status: 200, body: { state: 'assigned' } }, 'reads keep working')
  t.match(await api.request('GET', '/ready'), { status: 503, body: { checks: { redis: false, [adapter.name]: true } } }, '/ready still reports Redis')
  t.equal((await api.command('RD-2', { type: 'SHIP' })).status, 404, 'rejections are decided too')

  // Down for longer than a reconnect budget and several lease periods: the clients must never give up
  // retrying, and the holder keeps its partitions (its epochs are still current in the database).
  await sleep(4000)
  t.equal(api.service.worker.held().size, 8, 'still holding every partition')
  t.equal((await api.command('RD-1', { type: 'SHIP' })).status, 200)
  await redis.restart()
  await eventually(() => (api.service.queues.available() ? true : undefined), 10_000, 'the reconnection')
  // The restarted Redis has no scripts: bee-queue would answer NOSCRIPT unless they were reloaded.
  await eventually(async () => {
    try {
      await api.service.queues.wake(0, { commandId: `probe-${Date.now()}`, streamId: 'probe' })
      return true
    } catch {
      return undefined
    }
  }, 10_000, 'a wake-up job to be accepted again')
  t.pass('the queue scripts were reloaded (no NOSCRIPT)')
  // The empty Redis has no leases: the holder sets its own again instead of dropping and re-claiming.
  const prefix = await api.service.storage.store.installation.keyPrefix()
  const lease = async (p: number) => String(await call<string | null>(1000, 'get', (done) => api.service.queues.client.get(`${prefix}:lease:${p}`, done)))
  await eventually(async () => ((await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(lease))).every((o) => o === api.service.owner) ? true : undefined), 10_000, 'the leases to be ours again')
  t.same(await Promise.all(Array.from({ length: 8 }, (_, p) => api.service.storage.store.epochs.current(p))), epochs, 'no partition was claimed again (epochs unchanged)')
  t.equal((await api.command('RD-1', { type: 'DELIVER' })).status, 200, 'commands flow as before')
})

eachAdapter(t, 'while Redis is down, a command for a partition held elsewhere is taken in and answered 202 after the reply timeout; nobody claims it until Redis is back', async (t, adapter) => {
  const redis = await startRedis(t)
  const dataDir = tempDir(t)
  await leasePartitionsElsewhere(redis, dataDir, 8, adapter.env.WAYBILL_DATABASE_URL)
  const api = await startTestService(t, { redis, dataDir, env: { ...adapter.env, WAYBILL_REPLY_TIMEOUT_MS: '400' } })
  t.equal(api.service.worker.held().size, 0, 'every partition is leased to another process')
  await redis.kill()
  await eventually(() => (api.service.queues.available() ? undefined : true), 2000, 'the loss to be noticed')
  const started = Date.now()
  const queued = await api.command('RH-1', { type: 'REGISTER' })
  t.equal(queued.status, 202)
  // Timers run on the loop's cached, whole-millisecond clock: a 400 ms wait can read as 399 here.
  t.ok(Date.now() - started >= 400 - 50, 'after the reply timeout')
  t.match(await api.service.storage.store.inbox.get(queued.body.commandId), { status: 'pending', streamId: 'RH-1' }, 'taken in: durable in the inbox')
  await sleep(1500)
  t.equal(api.service.worker.held().size, 0, 'no partition is claimed while Redis is away')
  t.same((await api.service.storage.store.sql.get<{ n: number }>('SELECT count(*) AS n FROM partitions'))!.n, 0, 'no epoch was bumped')
  // Back, and empty: the other owner's leases are gone, so this node claims the partitions and decides.
  await redis.restart()
  await eventually(async () => ((await api.service.storage.store.inbox.get(queued.body.commandId))?.status === 'accepted' ? true : undefined), 10_000, 'the command to be decided')
  t.match(await api.request('GET', `/commands/${queued.body.commandId}`), { status: 200, body: { outcome: 'accepted' } })
})

eachAdapter(t, 'while Redis is down, a holder keeps a partition only while its epoch is current in the database', async (t, adapter) => {
  const redis = await startRedis(t)
  const api = await startTestService(t, { redis, env: adapter.env })
  t.equal((await api.command('RE-1', { type: 'REGISTER' })).status, 201)
  const partition = partitionOf('RE-1', api.config.partitions)
  await redis.kill()
  await eventually(() => (api.service.queues.available() ? undefined : true), 2000, 'the loss to be noticed')
  // Another process that still reaches Redis (a network partition) saw the lease expire and claimed it.
  const other = await adapter.storage({ dataDir: api.dataDir })
  const claimed = await other.store.epochs.claim(partition, 'elsewhere', Date.now())
  await eventually(() => (api.service.worker.held().has(partition) ? undefined : true), 2000, 'the superseded partition to be dropped without a write')
  t.equal(api.service.worker.held().size, 7, 'the others are kept')
  const queued = await api.command('RE-1', { type: 'ASSIGN', truckId: 'T1' })
  t.equal(queued.status, 202, 'taken in; its owner is elsewhere')
  t.equal(await other.store.epochs.current(partition), claimed, 'the holder did not claim it back')
  t.equal(await other.store.events.streamVersion('RE-1'), 1, 'and wrote nothing for it')
})

eachAdapter(t, 'kill -9 and restart of Redis, then FLUSHALL, under load: nothing acknowledged is lost', async (t, adapter) => {
  const cluster = await startCluster(t, { ...adapter.env, WAYBILL_LOG_LEVEL: 'warn' })
  await cluster.serve()
  cluster.worker()
  const history = new History()
  const random = seeded(99)
  let answered = 0
  const events: string[] = []
  let outage = { from: Infinity, to: Infinity }
  const faults = (async () => {
    await eventually(() => (answered >= 300 ? true : undefined), 60_000, '300 answers')
    await cluster.redis.kill()
    outage = { from: Date.now(), to: Infinity }
    events.push(`redis killed after ${answered}`)
    await new Promise((resolve) => setTimeout(resolve, 1500))
    outage = { ...outage, to: Date.now() }
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
  const storage = await cluster.storage()
  await eventually(async () => ((await storage.store.inbox.countPending()) === 0 ? true : undefined), 20_000, 'the inbox to drain')
  const result = await checkHistory(storage, history)
  t.comment(events.join('; '))
  t.comment(JSON.stringify(result.stats))
  const refusedForRedis = history.attempts.filter((a) => a.status === 503 && /redis/i.test(String(a.response?.detail)))
  t.same(refusedForRedis.map((a) => a.key), [], 'no request was refused because Redis was away')
  const during = history.attempts.filter((a) => a.sentAt >= outage.from && (a.answeredAt ?? Infinity) <= outage.to && a.status !== undefined && a.status < 300)
  t.ok(during.length > 0, `${during.length} commands were answered 2xx while Redis was away`)
  t.same(result.problems, [], 'the history satisfies I1–I7 and the oracle')
})

eachAdapter(t, 'while Redis is down, a retry of a decided command still gets its first answer', async (t, adapter) => {
  const redis = await startRedis(t)
  const api = await startTestService(t, { redis, env: adapter.env })
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
  t.equal((await api.command('RR-1', { type: 'CANCEL' })).status, 200, 'a new command is decided')
})
