import t, { type Test } from 'tap'
import type { WakeJob } from '../../src/queue/partition-queues.js'
import { eachAdapter } from '../helpers/adapters.js'
import { eventually, http, scan, startTestService, type TestService } from '../helpers/service.js'

// End to end over real HTTP sockets, real Redis (the test's own), on each storage adapter: a real
// SQLite file and a PostgreSQL database of the test's own.

async function allDecided(api: TestService): Promise<true | undefined> {
  return (await api.service.storage.store.inbox.countPending()) === 0 ? true : undefined
}

eachAdapter(t, '50 concurrent DELIVERs of one shipped shipment: exactly one is accepted', async (t, adapter) => {
  const api = await startTestService(t, { http: true, env: adapter.env })
  const base = api.service.url!
  await scan(base, 'C-1', { type: 'REGISTER' }, { expected: 201 })
  await scan(base, 'C-1', { type: 'ASSIGN', truckId: 'T-1' }, { expected: 200 })
  await scan(base, 'C-1', { type: 'SHIP' }, { expected: 200 })
  const answers = await Promise.all(
    Array.from({ length: 50 }, (_, i) => scan(base, 'C-1', { type: 'DELIVER' }, { headers: { 'idempotency-key': `deliver-${i}` } })),
  )
  const statuses = answers.map((a) => a.status)
  t.equal(statuses.filter((s) => s === 200).length, 1, 'one 200')
  t.equal(statuses.filter((s) => s === 409).length, 49, '49 conflicts')
  const res = await http(base, 'GET', '/shipments/C-1/events')
  t.equal(res.status, 200)
  const events = res.body.events as Array<{ type: string }>
  t.equal(events.filter((e) => e.type === 'ShipmentDelivered').length, 1, 'one ShipmentDelivered event')
})

eachAdapter(t, '20 concurrent REGISTERs of one id: exactly one is accepted', async (t, adapter) => {
  const api = await startTestService(t, { http: true, env: adapter.env })
  const answers = await Promise.all(Array.from({ length: 20 }, () => scan(api.service.url!, 'C-2', { type: 'REGISTER' })))
  t.equal(answers.filter((a) => a.status === 201).length, 1)
  t.equal(answers.filter((a) => a.status === 409 && a.body.reason === 'already_registered').length, 19)
  t.equal((await api.service.storage.store.events.readStream('C-2')).length, 1)
})

/** Each shipment: REGISTER, then ASSIGN, SHIP, DELIVER back to back (each waits only for its 202). */
async function walk(base: string, ids: string[]): Promise<void> {
  const async = { prefer: 'respond-async' }
  await Promise.all(
    ids.map(async (id) => {
      for (const body of [{ type: 'REGISTER' }, { type: 'ASSIGN', truckId: `T-${id}` }, { type: 'SHIP' }, { type: 'DELIVER' }]) {
        const res = await scan(base, id, body, { headers: async })
        if (res.status !== 202) throw new Error(`${id} ${body.type}: ${res.status}`)
      }
    }),
  )
}

async function assertAllDelivered(t: Test, api: TestService, ids: string[]) {
  await eventually(() => allDecided(api), 30_000, 'the inbox to drain')
  const rejected = (await api.service.storage.store.sql.get<{ n: number }>(`SELECT count(*) AS n FROM commands WHERE status = 'rejected'`))!.n
  t.equal(rejected, 0, 'no command was rejected: each met the state its predecessor left')
  const states = await Promise.all(ids.map(async (id) => (await api.service.storage.queries.get(id))?.state))
  const notDelivered = ids.filter((_, i) => states[i] !== 'delivered')
  t.same(notDelivered, [], `all ${ids.length} shipments delivered`)
  for (const id of ids.slice(0, 20)) {
    t.same((await api.service.storage.store.events.readStream(id)).map((e) => e.type), ['ShipmentRegistered', 'TruckAssigned', 'ShipmentShipped', 'ShipmentDelivered'])
  }
}

eachAdapter(t, 'arrival order holds for 200 shipments sent back to back with respond-async', async (t, adapter) => {
  const api = await startTestService(t, { http: true, env: adapter.env })
  const ids = Array.from({ length: 200 }, (_, i) => `O-${i}`)
  await walk(api.service.url!, ids)
  await assertAllDelivered(t, api, ids)
})

eachAdapter(t, 'arrival order holds when wake-up jobs are duplicated, reordered, delayed or lost', async (t, adapter) => {
  const api = await startTestService(t, { http: true, env: adapter.env })
  const queues = api.service.queues
  const deliver = queues.wake.bind(queues)
  const held: Array<[number, WakeJob]> = []
  let seen = 0
  // The queue boundary misbehaves: every job is held back and later released in reverse order,
  // every third is also delivered twice under another job id, every seventh is lost.
  queues.wake = async (partition: number, job: WakeJob) => {
    seen++
    if (seen % 7 === 0) return
    held.push([partition, job])
    if (seen % 3 === 0) held.push([partition, { ...job, commandId: `${job.commandId}-dup` }])
  }
  const release = setInterval(() => {
    const batch = held.splice(0).reverse()
    for (const [partition, job] of batch) void deliver(partition, job).catch(() => {})
  }, 30)
  t.teardown(() => clearInterval(release))
  const ids = Array.from({ length: 200 }, (_, i) => `X-${i}`)
  await walk(api.service.url!, ids)
  await assertAllDelivered(t, api, ids)
  t.ok(seen >= 800, `the chaos saw every wake-up (${seen})`)
})
