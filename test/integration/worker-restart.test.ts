import t from 'tap'
import { startCluster } from '../helpers/cluster.js'
import { sqliteDb } from '../helpers/db.js'
import { eventually, http } from '../helpers/service.js'

// A separate `waybill worker` process owns half of the partitions; it is killed (-9) mid-stream and
// a new one started. Every command acknowledged with 202 must still be decided, in arrival order.
t.test('arrival order holds when a worker process is killed and restarted mid-stream', async (t) => {
  const cluster = await startCluster(t)
  const base = cluster.base
  const serve = await cluster.serve()
  const worker = cluster.worker()
  await worker.waitFor(/partition acquired/)

  const ids = Array.from({ length: 200 }, (_, i) => `K-${i}`)
  let sent = 0
  const walking = Promise.all(
    ids.map(async (id) => {
      for (const body of [{ type: 'REGISTER' }, { type: 'ASSIGN', truckId: 'T-1' }, { type: 'SHIP' }, { type: 'DELIVER' }]) {
        const res = await http(base, 'POST', `/shipments/${id}/commands`, body, { prefer: 'respond-async' })
        if (res.status !== 202) throw new Error(`${id} ${body.type}: ${res.status} ${JSON.stringify(res.body)}`)
        sent++
      }
    }),
  )
  await eventually(() => (sent >= 100 ? true : undefined), 20_000, '100 commands sent')
  await worker.kill9()
  const killedAt = Date.now()
  const killedHeld = worker.lines.filter((l) => /partition acquired/.test(l)).map((l) => JSON.parse(l).partition as number)
  t.pass(`worker killed after ${sent} commands were acknowledged`)
  const storage = await cluster.storage()
  const db = sqliteDb(storage)
  const ownerOf = db.prepare('SELECT owner FROM partitions WHERE partition = ?').pluck()
  const deadOwner = new RegExp(`:${worker.pid}:`)
  const replacement = cluster.worker()
  // The dead worker's partitions move when their leases lapse (2 s), to serve or to the replacement,
  // whichever claims them first: the first takeover is timed here, by polling, while the load runs
  // (acquired_at is overwritten when the replacement later takes its share back).
  const takeoverMs = await eventually(() => (killedHeld.every((p) => !deadOwner.test(String(ownerOf.get(p) ?? ''))) ? Date.now() - killedAt : undefined), 30_000, 'the dead worker\'s partitions taken over')
  await walking
  t.equal(sent, 800)

  await eventually(async () => ((await storage.store.inbox.countPending()) === 0 ? true : undefined), 30_000, 'all commands decided')
  t.equal(db.prepare(`SELECT count(*) FROM commands WHERE status = 'rejected'`).pluck().get(), 0, 'nothing rejected')
  const states = await Promise.all(ids.map(async (id) => (await storage.queries.get(id))?.state))
  t.same(ids.filter((_, i) => states[i] !== 'delivered'), [], 'all 200 delivered')
  t.ok(killedHeld.length > 0, `the killed worker held partitions ${killedHeld}`)
  const owners = db.prepare('SELECT partition, owner FROM partitions').all() as Array<{ partition: number; owner: string }>
  // The dead worker's partitions moved within seconds (a 2 s lease; the bound leaves room for a
  // loaded machine, and still fails if a dead worker's leases were never taken over by time).
  t.ok(takeoverMs < 10_000, `ownership moved ${takeoverMs} ms after the death`)
  for (const partition of killedHeld) {
    const owner = owners.find((o) => o.partition === partition)?.owner ?? ''
    t.notMatch(owner, deadOwner, `partition ${partition} has a new owner (${owner})`)
  }
  await replacement.stop()
  t.equal(await serve.stop(), 0, 'serve shuts down cleanly on SIGTERM')
})
