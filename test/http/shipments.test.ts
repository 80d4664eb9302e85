import t from 'tap'
import { startTestService } from '../helpers/service.js'

t.test('reading shipments', async (t) => {
  const api = await startTestService(t)
  await api.command('R-1', { type: 'REGISTER', origin: 'North' })
  const assigned = await api.command('R-1', { type: 'ASSIGN', truckId: 'TR-1' })
  await new Promise((r) => setTimeout(r, 5))
  await api.command('R-1', { type: 'SHIP' })
  for (const id of ['R-2', 'R-3', 'R-4']) await api.command(id, { type: 'REGISTER' })
  await api.command('R-3', { type: 'ASSIGN', truckId: 'TR-1' })

  t.test('now, with a weak ETag', async (t) => {
    const res = await api.request('GET', '/shipments/R-1')
    t.match(res, { status: 200, body: { shipmentId: 'R-1', state: 'shipped', version: 3, truckId: 'TR-1', origin: 'North', allowed: ['DELIVER'] } })
    t.equal(res.headers.etag, 'W/"3"')
    const cached = await api.request('GET', '/shipments/R-1', undefined, { 'if-none-match': 'W/"3"' })
    t.equal(cached.status, 304)
    t.equal((await api.request('GET', '/shipments/NOPE')).status, 404)
  })

  t.test('time travel by version and by time', async (t) => {
    t.match((await api.request('GET', '/shipments/R-1?version=1')).body, { state: 'registered', version: 1, truckId: null, allowed: ['ASSIGN', 'CANCEL'] })
    t.match((await api.request('GET', '/shipments/R-1?version=2')).body, { state: 'assigned', version: 2, truckId: 'TR-1' })
    const at = assigned.body.event.recordedAt
    t.match((await api.request('GET', `/shipments/R-1?at=${encodeURIComponent(at)}`)).body, { state: 'assigned', version: 2 })
    t.equal((await api.request('GET', '/shipments/R-1?at=2000-01-01T00:00:00Z')).status, 404, 'before it existed')
    t.equal((await api.request('GET', '/shipments/R-1?version=99')).status, 404, 'a version beyond the head does not exist (yet)')
    t.equal((await api.request('GET', '/shipments/R-1?version=0')).status, 400)
    t.equal((await api.request('GET', '/shipments/R-1?at=yesterday')).status, 400)
  })

  t.test('events in version order', async (t) => {
    const res = await api.request('GET', '/shipments/R-1/events')
    t.same(res.body.events.map((e: { version: number }) => e.version), [1, 2, 3])
    t.match(res.body.events[1], { shipmentId: 'R-1', type: 'TruckAssigned', data: { truckId: 'TR-1', previousTruckId: null }, metadata: { commandId: String, machineVersion: '2' } })
    t.equal((await api.request('GET', '/shipments/NOPE/events')).status, 404)
  })

  t.test('list with filters and a cursor', async (t) => {
    const all = await api.request('GET', '/shipments?limit=2')
    t.same(all.body.items.map((s: { shipmentId: string }) => s.shipmentId), ['R-1', 'R-2'])
    t.type(all.body.next, 'string')
    const next = await api.request('GET', `/shipments?limit=2&cursor=${all.body.next}`)
    t.same(next.body.items.map((s: { shipmentId: string }) => s.shipmentId), ['R-3', 'R-4'])
    t.equal(next.body.next, null)
    const registered = await api.request('GET', '/shipments?state=registered')
    t.same(registered.body.items.map((s: { shipmentId: string }) => s.shipmentId), ['R-2', 'R-4'])
    const onTruck = await api.request('GET', '/shipments?truckId=TR-1')
    t.same(onTruck.body.items.map((s: { shipmentId: string }) => s.shipmentId), ['R-1', 'R-3'])
    const both = await api.request('GET', '/shipments?truckId=TR-1&state=assigned')
    t.same(both.body.items.map((s: { shipmentId: string }) => s.shipmentId), ['R-3'])
    t.equal((await api.request('GET', '/shipments?state=flying')).status, 400)
    t.equal((await api.request('GET', '/shipments?limit=0')).status, 400)
    t.equal((await api.request('GET', '/shipments?limit=501')).status, 400)
    t.equal((await api.request('GET', '/shipments?color=red')).status, 400)
  })

  t.test('the global feed in commit order', async (t) => {
    const first = await api.request('GET', '/events?limit=3')
    t.same(first.body.events.map((e: { position: number }) => e.position), [1, 2, 3])
    t.equal(first.body.last, 3)
    const rest = await api.request('GET', `/events?after=${first.body.last}&limit=100`)
    t.same(rest.body.events.map((e: { position: number }) => e.position), [4, 5, 6, 7])
    const none = await api.request('GET', '/events?after=7')
    t.same(none.body, { events: [], last: 7 })
  })

  t.test('health and readiness', async (t) => {
    t.same((await api.request('GET', '/health', undefined, { authorization: '' })).body, { status: 'ok' })
    t.same((await api.request('GET', '/ready')).body, { status: 'ok', checks: { sqlite: true, redis: true, partitions: true } })
  })
})
