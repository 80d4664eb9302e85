import t from 'tap'
import { startCluster } from '../helpers/cluster.js'
import { eventually, scan } from '../helpers/service.js'

// SIGTERM: the API stops taking requests, requests in flight get their answer, the worker finishes
// its batch and hands its partitions back, and the process exits 0. To have requests surely in flight,
// this `serve` decides nothing (WAYBILL_MAX_PARTITIONS=0): each command waits for its outcome until
// the reply timeout, and is still waiting when SIGTERM arrives.
t.test('graceful shutdown answers the requests in flight', async (t) => {
  const cluster = await startCluster(t, { WAYBILL_LOG_LEVEL: 'info', WAYBILL_REPLY_TIMEOUT_MS: '1500' })
  const serve = await cluster.serve({ WAYBILL_MAX_PARTITIONS: '0' })
  const inflight = Array.from({ length: 20 }, (_, i) => scan(cluster.base, `GS-${i}`, { type: 'REGISTER' }).catch((error: Error) => error))
  const storage = await cluster.storage()
  await eventually(async () => ((await storage.store.inbox.countPending()) === 20 ? true : undefined), 30_000, 'all 20 to be taken in')
  const code = await serve.stop()
  const answers = await Promise.all(inflight)
  t.equal(code, 0, 'exit code 0')
  t.same(answers.map((a) => (a instanceof Error ? a.message : a.status)), Array(20).fill(202), 'every request in flight got its answer: queued')
  t.ok(serve.lines.some((l) => /"shutting down"/.test(l)), 'the shutdown is logged')
  t.equal(await storage.store.inbox.countPending(), 20, 'the queued commands are durable')

  // A worker started later decides them.
  cluster.worker()
  await eventually(async () => ((await storage.store.inbox.countPending()) === 0 ? true : undefined), 20_000, 'the worker to decide them')
  t.equal((await storage.queries.list({ limit: 100, state: 'registered' })).items.length, 20)
})
