import t from 'tap'
import { leasePartitionsElsewhere, startRedis } from '../helpers/redis.js'
import { startTestService, tempDir } from '../helpers/service.js'

// The rules through the real HTTP edge, intake, Redis partition queues, worker and SQLite.
t.test('commands through HTTP', async (t) => {
  const api = await startTestService(t)

  t.test('REGISTER answers 201 with the shipment and its event', async (t) => {
    const res = await api.command('S-1', { type: 'REGISTER', origin: 'Depot A', destination: 'Town B', scannedAt: '2026-11-27T08:00:00Z', operatorId: 'op-7' })
    t.equal(res.status, 201)
    t.equal(res.headers.location, '/shipments/S-1')
    t.match(res.body, {
      commandId: String,
      outcome: 'accepted',
      shipment: { shipmentId: 'S-1', state: 'registered', version: 1, truckId: null, origin: 'Depot A', destination: 'Town B', allowed: ['ASSIGN', 'CANCEL'] },
      event: { type: 'ShipmentRegistered', version: 1, position: Number, recordedAt: String },
    })
    const events = await api.request('GET', '/shipments/S-1/events')
    t.match(events.body.events[0].metadata, { commandId: res.body.commandId, deviceId: 'bootstrap', operatorId: 'op-7', scannedAt: '2026-11-27T08:00:00Z', machineVersion: '2' })
  })

  t.test('a shipment cannot be shipped before it is assigned', async (t) => {
    await api.command('S-2', { type: 'REGISTER' })
    const res = await api.command('S-2', { type: 'SHIP' })
    t.equal(res.status, 409)
    t.match(res.headers['content-type'], /^application\/problem\+json/)
    t.match(res.body, {
      type: '/problems/invalid-transition', status: 409, outcome: 'rejected', reason: 'invalid_transition',
      detail: 'cannot SHIP a shipment that is registered', commandId: String,
      shipment: { state: 'registered', version: 1 }, allowed: ['ASSIGN', 'CANCEL'],
    })
  })

  t.test('cannot be delivered before it is shipped, nor twice', async (t) => {
    await api.command('S-3', { type: 'REGISTER' })
    await api.command('S-3', { type: 'ASSIGN', truckId: 'T-1' })
    const early = await api.command('S-3', { type: 'DELIVER' })
    t.match(early, { status: 409, body: { reason: 'invalid_transition', detail: 'cannot DELIVER a shipment that is assigned' } })
    t.equal((await api.command('S-3', { type: 'SHIP' })).status, 200)
    const delivered = await api.command('S-3', { type: 'DELIVER', receivedBy: 'Ann' })
    t.match(delivered, { status: 200, body: { shipment: { state: 'delivered', version: 4, allowed: [] }, event: { type: 'ShipmentDelivered', version: 4 } } })
    const twice = await api.command('S-3', { type: 'DELIVER' })
    t.match(twice, { status: 409, body: { reason: 'invalid_transition', shipment: { state: 'delivered' }, allowed: [] } })
    const events = await api.request('GET', '/shipments/S-3/events')
    t.same(events.body.events.map((e: { type: string }) => e.type), ['ShipmentRegistered', 'TruckAssigned', 'ShipmentShipped', 'ShipmentDelivered'])
  })

  t.test('unknown shipment: 404 with the command id; second REGISTER and same truck: 409', async (t) => {
    const unknown = await api.command('S-404', { type: 'ASSIGN', truckId: 'T-1' })
    t.match(unknown, { status: 404, body: { type: '/problems/shipment-not-found', outcome: 'rejected', reason: 'not_found', commandId: String } })
    await api.command('S-4', { type: 'REGISTER' })
    t.match(await api.command('S-4', { type: 'REGISTER' }), { status: 409, body: { reason: 'already_registered' } })
    await api.command('S-4', { type: 'ASSIGN', truckId: 'T-1' })
    t.match(await api.command('S-4', { type: 'ASSIGN', truckId: 'T-1' }), { status: 409, body: { reason: 'same_truck', type: '/problems/same-truck' } })
    t.match(await api.command('S-4', { type: 'ASSIGN', truckId: 'T-2' }), { status: 200, body: { shipment: { truckId: 'T-2' } } })
    t.match(await api.command('S-4', { type: 'UNASSIGN' }), { status: 200, body: { shipment: { state: 'registered', truckId: null } } })
    t.match(await api.command('S-4', { type: 'CANCEL', reason: 'damaged' }), { status: 200, body: { shipment: { state: 'cancelled' } } })
  })

  t.test('Prefer: respond-async answers 202 and the command is decided behind it', async (t) => {
    await api.command('S-5', { type: 'REGISTER' })
    const res = await api.command('S-5', { type: 'ASSIGN', truckId: 'T-5' }, { prefer: 'respond-async' })
    t.equal(res.status, 202)
    t.equal(res.headers['preference-applied'], 'respond-async')
    t.same(res.body, { commandId: res.body.commandId, outcome: 'queued' })
    t.equal(res.headers.location, `/commands/${res.body.commandId}`)
    let status
    for (let i = 0; i < 100; i++) {
      status = await api.request('GET', res.headers.location as string)
      if (status.body.outcome !== 'queued') break
      await new Promise((r) => setTimeout(r, 20))
    }
    t.match(status, { status: 200, body: { commandId: res.body.commandId, shipmentId: 'S-5', type: 'ASSIGN', outcome: 'accepted', event: { type: 'TruckAssigned', version: 2 }, receivedAt: String, decidedAt: String } })
    t.equal((await api.request('GET', '/commands/00000000-0000-0000-0000-000000000000')).status, 404)
  })

  t.test('idempotency: same key and body ⇒ same answer, no second effect; other body ⇒ 422', async (t) => {
    await api.command('S-6', { type: 'REGISTER' })
    const key = { 'idempotency-key': 'scan-0001' }
    const first = await api.command('S-6', { type: 'ASSIGN', truckId: 'T-6' }, key)
    const again = await api.command('S-6', { truckId: 'T-6', type: 'ASSIGN' }, key)
    t.equal(first.status, 200)
    t.equal(again.status, 200)
    t.same(again.body, first.body, 'byte-for-byte the first answer')
    t.equal(again.headers['idempotent-replayed'], 'true')
    t.notOk(first.headers['idempotent-replayed'])
    const events = await api.request('GET', '/shipments/S-6/events')
    t.equal(events.body.events.length, 2, 'no second TruckAssigned')
    const conflict = await api.command('S-6', { type: 'ASSIGN', truckId: 'T-7' }, key)
    t.match(conflict, { status: 422, body: { type: '/problems/idempotency-key-reused' } })
    const elsewhere = await api.command('S-7', { type: 'ASSIGN', truckId: 'T-6' }, key)
    t.equal(elsewhere.status, 422, 'the key is bound to the shipment too')

    const rejectKey = { 'idempotency-key': 'scan-0002' }
    const rejected = await api.command('S-6', { type: 'DELIVER' }, rejectKey)
    await api.command('S-6', { type: 'SHIP' })
    const rejectedAgain = await api.command('S-6', { type: 'DELIVER' }, rejectKey)
    t.equal(rejected.status, 409)
    t.same(rejectedAgain.body, rejected.body, 'a replayed rejection shows the shipment as it was then')
    t.equal(rejectedAgain.status, 409)
  })

  t.test('without a reply in time the request answers 202', async (t) => {
    // Every partition is leased to an owner elsewhere that never answers: commands stay queued.
    const redis = await startRedis(t)
    const dataDir = tempDir(t)
    await leasePartitionsElsewhere(redis, dataDir)
    const slow = await startTestService(t, { redis, dataDir, env: { WAYBILL_REPLY_TIMEOUT_MS: '50' } })
    const res = await slow.command('S-8', { type: 'REGISTER' })
    t.equal(res.status, 202)
    t.match(res.body, { outcome: 'queued' })
    t.equal((await slow.request('GET', `/commands/${res.body.commandId}`)).body.outcome, 'queued')
  })
})
