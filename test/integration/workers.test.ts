import t from 'tap'
import { startCluster } from '../helpers/cluster.js'
import { checkHistory, History } from '../helpers/history.js'
import { runScanner, seeded } from '../helpers/scanners.js'
import { eventually } from '../helpers/service.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// Several `waybill worker` processes on one data directory. Each partition has one owner at a time
// (Redis lease); the fencing epoch in SQLite is what keeps a paused ex-owner from writing.
t.test('a worker paused (SIGSTOP) past its lease and resumed cannot write; the other one took over', async (t) => {
  const cluster = await startCluster(t)
  await cluster.serve({ WAYBILL_MAX_PARTITIONS: '0', WAYBILL_LOG_LEVEL: 'warn' })
  const a = cluster.worker()
  await a.waitFor(/partition acquired/)
  const b = cluster.worker()
  await b.waitFor(/partition acquired/)
  const history = new History()
  const random = seeded(3)
  let answered = 0
  const scanners = Promise.all(
    Array.from({ length: 24 }, (_, i) => runScanner({ base: () => cluster.base, shipmentId: `Z-${i}`, commands: 30, history, random, onAnswered: () => void answered++ })),
  )
  await eventually(() => (answered >= 150 ? true : undefined), 30_000, '150 answers')
  process.kill(a.pid, 'SIGSTOP')
  const stoppedAt = answered
  // Past its lease (2 s) and past the liveness window (3 leases): B's fair share becomes everything.
  await eventually(() => (b.lines.filter((l) => /partition acquired/.test(l)).length === 8 ? true : undefined), 30_000, 'B to own all 8 partitions')
  process.kill(a.pid, 'SIGCONT')
  await scanners
  await eventually(() => (a.lines.some((l) => /taken over by another worker|lease lost/.test(l)) ? true : undefined), 10_000, 'A to notice')
  const storage = cluster.storage()
  await eventually(() => (storage.inbox.countPending() === 0 ? true : undefined), 20_000, 'the inbox to drain')
  const result = checkHistory(storage, history)
  const noticed = a.lines.filter((l) => /taken over by another worker|lease lost/.test(l)).map((l) => JSON.parse(l).msg as string)
  t.comment(`A stopped after ${stoppedAt} answers; on resuming A saw: ${[...new Set(noticed)].join(', ')}; ${JSON.stringify(result.stats)}`)
  t.ok(answered > stoppedAt, 'commands kept flowing while A was paused')
  t.same(result.problems, [], 'no interleaved or stale writes: the history satisfies I1–I7 and the oracle')
})

t.test('negative control: two workers forced onto the same partitions are kept apart by the epoch alone', async (t) => {
  const cluster = await startCluster(t)
  await cluster.serve({ WAYBILL_MAX_PARTITIONS: '0', WAYBILL_LOG_LEVEL: 'warn' })
  const a = cluster.worker({ WAYBILL_FAULTS: 'ignore-leases' })
  const b = cluster.worker({ WAYBILL_FAULTS: 'ignore-leases' })
  await a.waitFor(/partition acquired/)
  await b.waitFor(/partition acquired/)
  const history = new History()
  const random = seeded(5)
  await Promise.all(Array.from({ length: 16 }, (_, i) => runScanner({ base: () => cluster.base, shipmentId: `N-${i}`, commands: 30, history, random })))
  const storage = cluster.storage()
  await eventually(() => (storage.inbox.countPending() === 0 ? true : undefined), 20_000, 'the inbox to drain')
  await sleep(200)
  const fenced = [...a.lines, ...b.lines].filter((l) => /taken over by another worker/.test(l)).length
  t.ok(fenced > 0, `the fence refused ${fenced} writes of a superseded owner`)
  const result = checkHistory(storage, history)
  t.comment(JSON.stringify(result.stats))
  t.same(result.problems, [], 'no interleaved or stale writes despite two owners')
})
