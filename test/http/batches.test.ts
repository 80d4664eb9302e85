import t from 'tap'
import { sqliteDb } from '../helpers/db.js'
import { startTestService, type TestService } from '../helpers/service.js'

// Offline batches through HTTP (docs/api.md *Offline scanners — batch sync*), one process holding
// every partition: each item is answered as its single request would be.

type Item = { seq: number; shipmentId?: string; truckId?: string; command?: unknown; [key: string]: unknown }

/** A scanner token of its own device: seqs are numbered per device. */
async function scanner(api: TestService, deviceId: string, role = 'scanner') {
  const created = await api.request('POST', '/admin/tokens', { deviceId, role })
  const auth = { authorization: `Bearer ${created.body.token}` }
  return {
    batch: (items: Item[], headers: Record<string, string> = {}) => api.request('POST', '/batches', { items }, { ...auth, ...headers }),
    raw: (payload: string) => api.request('POST', '/batches', payload, auth),
    sync: (device = deviceId) => api.request('GET', `/devices/${device}/sync`, undefined, auth),
    command: (shipmentId: string, body: unknown) => api.request('POST', `/shipments/${shipmentId}/commands`, body, auth),
  }
}

const counts = (api: TestService) => {
  const db = sqliteDb(api.service.storage)
  return {
    events: db.prepare('SELECT count(*) FROM events').pluck().get() as number,
    commands: db.prepare('SELECT count(*) FROM commands').pluck().get() as number,
    refusals: db.prepare('SELECT count(*) FROM device_refusals').pluck().get() as number,
  }
}

const statuses = (res: { body: { results: Array<{ status: number }> } }) => res.body.results.map((r) => r.status)

t.test('items across several shipments are decided in seq order, each answered as its single request', async (t) => {
  const api = await startTestService(t)
  const a = await scanner(api, 'hand-1')
  const day: Item[] = [
    { seq: 1, shipmentId: 'S1', command: { type: 'REGISTER', origin: 'Lyon' } },
    { seq: 2, shipmentId: 'S1', command: { type: 'ASSIGN', truckId: 'T1' } },
    { seq: 3, shipmentId: 'S2', command: { type: 'REGISTER' } },
    { seq: 4, shipmentId: 'S1', command: { type: 'SHIP' } },
    { seq: 5, shipmentId: 'S2', command: { type: 'DELIVER' } },
    { seq: 6, shipmentId: 'S1', command: { type: 'DELIVER' } },
    { seq: 7, shipmentId: 'S9', command: { type: 'SHIP' } },
  ]
  const res = await a.batch(day)
  t.equal(res.status, 200)
  t.same(statuses(res), [201, 200, 201, 200, 409, 200, 404])
  t.match(res.body, { deviceId: 'hand-1', lastContiguousSeq: 7, gaps: [] })
  t.match(res.body.results[0], { seq: 1, outcome: 'accepted', shipment: { shipmentId: 'S1', state: 'registered' }, event: { type: 'ShipmentRegistered', version: 1 } })
  t.match(res.body.results[4], { seq: 5, outcome: 'rejected', reason: 'invalid_transition', shipment: { shipmentId: 'S2', state: 'registered' }, allowed: ['ASSIGN', 'CANCEL'] })
  t.match(res.body.results[6], { seq: 7, outcome: 'rejected', reason: 'not_found' })
  t.notOk('shipment' in res.body.results[6], 'no shipment for one that does not exist (as the 404 of the single route)')
  t.match((await api.request('GET', '/shipments/S1')).body, { state: 'delivered', version: 4 })
  const single = await a.command('S2', { type: 'DELIVER' })
  t.equal(single.status, 409, 'the single route answers the same for the same command')
  t.equal(single.body.reason, res.body.results[4].reason)
  const metadata = (await api.request('GET', '/shipments/S1/events')).body.events[0].metadata
  t.match(metadata, { deviceId: 'hand-1', commandId: res.body.results[0].commandId })
})

t.test('a resent batch, whole or in part, answers its first results and has no second effect', async (t) => {
  const api = await startTestService(t)
  const a = await scanner(api, 'hand-1')
  const items: Item[] = [
    { seq: 1, shipmentId: 'R1', command: { type: 'REGISTER' } },
    { seq: 2, shipmentId: 'R1', command: { type: 'ASSIGN', truckId: 'T1' } },
    { seq: 3, shipmentId: 'R1', command: { type: 'SHIP' } },
    { seq: 4, shipmentId: 'R1', command: { type: 'SHIP' } },
  ]
  const first = await a.batch(items)
  t.same(statuses(first), [201, 200, 200, 409])
  const before = counts(api)
  const again = await a.batch(items)
  t.same(statuses(again), [201, 200, 200, 409], 'the first statuses, although R1 is shipped now')
  t.same(again.body.results.map((r: { commandId: string }) => r.commandId), first.body.results.map((r: { commandId: string }) => r.commandId))
  t.ok(again.body.results.every((r: { replayed?: boolean }) => r.replayed === true))
  t.same(again.body.results.map((r: { shipment: { version: number } }) => r.shipment.version), [1, 2, 3, 3], 'each as it was when decided')
  const part = await a.batch([items[1]!, items[3]!, { seq: 5, shipmentId: 'R1', command: { type: 'DELIVER' } }])
  t.same(statuses(part), [200, 409, 200])
  t.same(part.body.results.map((r: { replayed?: boolean }) => r.replayed ?? false), [true, true, false])
  t.same(counts(api), { ...before, events: before.events + 1, commands: before.commands + 1 }, 'only the new item was recorded')
})

t.test('a reused seq with another body is that item’s 422 seq_reused and changes nothing', async (t) => {
  const api = await startTestService(t)
  const a = await scanner(api, 'hand-1')
  const first = await a.batch([{ seq: 1, shipmentId: 'U1', command: { type: 'REGISTER' } }])
  const before = counts(api)
  const res = await a.batch([
    { seq: 1, shipmentId: 'U2', command: { type: 'REGISTER' } },
    { seq: 2, shipmentId: 'U1', command: { type: 'CANCEL' } },
  ])
  t.same(statuses(res), [422, 200])
  t.match(res.body.results[0], { seq: 1, outcome: 'rejected', reason: 'seq_reused', commandId: first.body.results[0].commandId })
  t.equal((await api.request('GET', '/shipments/U2')).status, 404, 'the reused seq had no effect')
  t.equal(counts(api).commands, before.commands + 1)
  // Another device's seq 1 is its own.
  const b = await scanner(api, 'hand-2')
  t.same(statuses(await b.batch([{ seq: 1, shipmentId: 'U2', command: { type: 'REGISTER' } }])), [201])
})

t.test('gaps are reported, by the batch answer and by GET /devices/{id}/sync, and close when filled', async (t) => {
  const api = await startTestService(t)
  const a = await scanner(api, 'hand-1')
  const fresh = await a.sync()
  t.same(fresh.body, { deviceId: 'hand-1', lastContiguousSeq: 0, highestSeq: 0, gaps: [], lastSeenAt: null }, 'a device that never sent anything')
  const reg = (seq: number): Item => ({ seq, shipmentId: `G${seq}`, command: { type: 'REGISTER' } })
  const res = await a.batch([reg(1), reg(2), reg(5), reg(9)])
  t.match(res.body, { lastContiguousSeq: 2, gaps: [[3, 4], [6, 8]] })
  const sync = await a.sync()
  t.match(sync.body, { deviceId: 'hand-1', lastContiguousSeq: 2, highestSeq: 9, gaps: [[3, 4], [6, 8]] })
  t.ok(Date.parse(sync.body.lastSeenAt) > Date.now() - 60_000)
  t.match((await a.batch([reg(3), reg(4), reg(6)])).body, { lastContiguousSeq: 6, gaps: [[7, 8]] })
  t.match((await a.batch([reg(7), reg(8)])).body, { lastContiguousSeq: 9, gaps: [] })
  t.match((await a.sync()).body, { lastContiguousSeq: 9, highestSeq: 9, gaps: [] })
  // A single command (no seq) is seen, but is no seq.
  await a.command('X', { type: 'REGISTER' })
  t.match((await a.sync()).body, { lastContiguousSeq: 9, highestSeq: 9 })
})

t.test('a malformed item is its own 400, the others count, and its seq is no gap', async (t) => {
  const api = await startTestService(t)
  const a = await scanner(api, 'hand-1')
  const items: Item[] = [
    { seq: 1, shipmentId: 'M1', command: { type: 'REGISTER' } },
    { seq: 2, shipmentId: 'bad id!', command: { type: 'REGISTER' } },
    { seq: 3, shipmentId: 'M1', command: { type: 'FLY' } },
    { seq: 4, shipmentId: 'M1', truckId: 'T1', command: { type: 'CANCEL' } },
    { seq: 5, command: { type: 'CANCEL' } },
    { seq: 6, shipmentId: 'M1', command: { type: 'ASSIGN' } },
    { seq: 7, shipmentId: 'M1', command: { type: 'ASSIGN', truckId: 'T1' }, colour: 'red' },
    { seq: 8, shipmentId: 'M1', command: { type: 'ASSIGN', truckId: 'T1', scannedAt: '2026-12-31T23:59:60Z' } },
    { seq: 9, truckId: 'T1', command: { type: 'OPEN', capacity: 0 } },
    { seq: 10, shipmentId: 'M1', command: { type: 'ASSIGN', truckId: 'T1' } },
  ]
  const res = await a.batch(items)
  t.equal(res.status, 200)
  t.same(statuses(res), [201, 400, 400, 400, 400, 400, 400, 400, 400, 200])
  for (const r of res.body.results.filter((r: { status: number }) => r.status === 400)) {
    t.match(r, { outcome: 'rejected', reason: 'invalid_request', detail: /\S/ })
    t.notOk('commandId' in r)
  }
  t.match(res.body.results[1].detail, /shipmentId/)
  t.match(res.body.results[6].detail, /colour/)
  t.match(res.body, { lastContiguousSeq: 10, gaps: [] }, 'refused items are answered: not gaps to resend')
  // A lone surrogate in one item (raw JSON, as a broken scanner would send it) refuses that item only.
  const raw = await a.raw('{"items":[{"seq":11,"shipmentId":"M2","command":{"type":"REGISTER","operatorId":"\\ud800"}},{"seq":12,"shipmentId":"M3","command":{"type":"REGISTER"}}]}')
  t.same(statuses(raw), [400, 201])
  t.match(raw.body.results[0].detail, /operatorId.*well-formed/)
  t.equal((await api.request('GET', '/shipments/M2')).status, 404)
  // Resent: the same 400 again (replayed); the seq with another body: 422.
  const again = await a.batch([items[1]!, { seq: 3, shipmentId: 'M1', command: { type: 'CANCEL' } }])
  t.same(statuses(again), [400, 422])
  t.equal(again.body.results[0].replayed, true)
  t.equal((await api.request('GET', '/shipments/M1')).body.state, 'assigned', 'the 422 item had no effect')
})

t.test('a batch that breaks the envelope is refused whole (400/413) and changes nothing', async (t) => {
  const api = await startTestService(t)
  const a = await scanner(api, 'hand-1')
  await a.batch([{ seq: 1, shipmentId: 'E1', command: { type: 'REGISTER' } }])
  const before = counts(api)
  const reg = (seq: number): Item => ({ seq, shipmentId: `E${seq}`, command: { type: 'REGISTER' } })
  const bad: Array<[string, unknown, number]> = [
    ['no items', { items: [] }, 400],
    ['1001 items', { items: Array.from({ length: 1001 }, (_, i) => reg(i + 2)) }, 400],
    ['seq not increasing', { items: [reg(3), reg(2)] }, 400],
    ['seq repeated', { items: [reg(3), reg(3)] }, 400],
    ['seq missing', { items: [reg(3), { shipmentId: 'E4', command: { type: 'REGISTER' } }] }, 400],
    ['seq 0', { items: [reg(0)] }, 400],
    ['seq not an integer', { items: [{ ...reg(2), seq: 2.5 }] }, 400],
    ['seq a string', { items: [{ ...reg(2), seq: '2' }] }, 400],
    ['items not an array', { items: reg(2) }, 400],
    ['unknown top-level property', { items: [reg(2)], device: 'x' }, 400],
    ['lone surrogate outside the items', { items: [reg(2)], ['\ud800']: 1 }, 400],
  ]
  for (const [what, body, status] of bad) {
    const res = await api.request('POST', '/batches', body)
    t.equal(res.status, status, what)
    t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8', `${what}: problem+json`)
  }
  const huge = await a.raw(JSON.stringify({ items: [{ ...reg(2), command: { type: 'REGISTER', origin: 'x'.repeat(1024 * 1024) } }] }))
  t.equal(huge.status, 413, 'over 1 MiB')
  t.same(counts(api), before)
  t.match((await a.sync()).body, { lastContiguousSeq: 1, highestSeq: 1 })
  // 1000 items of a realistic size fit the limit; the single routes keep their 16 KiB.
  const full = await a.batch(Array.from({ length: 1000 }, (_, i) => ({ seq: i + 2, shipmentId: `F${i}`, command: { type: 'REGISTER', origin: 'Lyon Part-Dieu', destination: 'Marseille', operatorId: 'op-17', scannedAt: '2026-12-05T08:00:00.000Z' } })))
  t.equal(full.status, 200)
  t.equal(full.body.results.filter((r: { status: number }) => r.status === 201).length, 1000)
  t.equal((await a.command('BIG', { type: 'REGISTER', origin: 'x'.repeat(20_000) })).status, 413)
})

t.test('late scans: a rejected item scanned before the shipment’s last accepted change is flagged, and shown', async (t) => {
  const api = await startTestService(t)
  const online = await scanner(api, 'dock-1')
  const offline = await scanner(api, 'hand-7')
  const cancelAt = new Date(Date.now() - 60 * 60_000).toISOString()
  t.equal((await online.command('L1', { type: 'REGISTER' })).status, 201)
  t.equal((await online.command('L1', { type: 'ASSIGN', truckId: 'T1' })).status, 200)
  t.equal((await online.command('L1', { type: 'SHIP' })).status, 200)
  const res = await offline.batch([
    { seq: 1, shipmentId: 'L1', command: { type: 'CANCEL', scannedAt: cancelAt } },
    { seq: 2, shipmentId: 'L1', command: { type: 'SHIP', scannedAt: new Date(Date.now() + 60_000).toISOString() } },
    { seq: 3, shipmentId: 'L1', command: { type: 'UNASSIGN' } },
  ])
  t.same(statuses(res), [409, 409, 409])
  t.equal(res.body.results[0].late, true, 'scanned an hour ago, before it shipped: overtaken while offline')
  t.notOk('late' in res.body.results[1], 'scanned after the last change: a plain rejection')
  t.notOk('late' in res.body.results[2], 'no scan time: never late')
  const timeline = (await api.request('GET', '/shipments/L1/commands')).body
  const cancel = timeline.commands.find((c: { commandId: string }) => c.commandId === res.body.results[0].commandId)
  t.match(cancel, { outcome: 'rejected', late: true })
  const resent = await offline.batch([{ seq: 1, shipmentId: 'L1', command: { type: 'CANCEL', scannedAt: cancelAt } }])
  t.match(resent.body.results[0], { replayed: true, late: true }, 'a resend says so too')
})

t.test('GET /devices/{id}/sync: the device itself, reviewers and admins; another scanner is refused', async (t) => {
  const api = await startTestService(t)
  const a = await scanner(api, 'hand-1')
  const b = await scanner(api, 'hand-2')
  const reviewer = await scanner(api, 'office', 'reviewer')
  await a.batch([{ seq: 1, shipmentId: 'D1', command: { type: 'REGISTER' } }])
  t.equal((await a.sync()).status, 200)
  t.equal((await b.sync('hand-1')).status, 403, 'another scanner')
  t.match((await reviewer.sync('hand-1')).body, { deviceId: 'hand-1', lastContiguousSeq: 1 })
  t.equal((await reviewer.sync('never-seen')).status, 404)
  t.match((await api.request('GET', '/devices/hand-1/sync')).body, { highestSeq: 1 }, 'admin')
  t.equal((await reviewer.batch([{ seq: 1, shipmentId: 'D2', command: { type: 'REGISTER' } }])).status, 403, 'reviewers do not send commands')
})

t.test('trucks in a batch: a truck’s item is decided after the items before it; Prefer: respond-async', async (t) => {
  const api = await startTestService(t)
  const a = await scanner(api, 'hand-1')
  const res = await a.batch([
    { seq: 1, truckId: 'T1', command: { type: 'OPEN', capacity: 5 } },
    { seq: 2, shipmentId: 'P1', command: { type: 'REGISTER' } },
    { seq: 3, shipmentId: 'P1', command: { type: 'ASSIGN', truckId: 'T1' } },
    { seq: 4, shipmentId: 'P1', command: { type: 'SHIP' } },
    { seq: 5, truckId: 'T1', command: { type: 'DEPART' } },
    { seq: 6, truckId: 'T1', command: { type: 'OPEN' } },
  ])
  t.same(statuses(res), [201, 201, 200, 409, 200, 409])
  t.match(res.body.results[0], { truck: { truckId: 'T1', state: 'loading', capacity: 5 } })
  t.match(res.body.results[3], { reason: 'awaiting_departure' })
  t.match(res.body.results[4], { truck: { state: 'departed', manifest: ['P1'] }, event: { type: 'TruckDeparted' } })
  t.match(res.body.results[5], { reason: 'already_registered', truck: { truckId: 'T1' } })
  t.match((await api.request('GET', '/shipments/P1')).body, { state: 'shipped' }, 'the ASSIGN scanned before the DEPART got on the truck; answered after its load shipped')

  const async = await a.batch([{ seq: 7, shipmentId: 'P2', command: { type: 'REGISTER' } }], { prefer: 'respond-async' })
  t.equal(async.headers['preference-applied'], 'respond-async')
  t.match(async.body.results[0], { seq: 7, status: 202, outcome: 'queued' })
  const polled = await api.request('GET', `/commands/${async.body.results[0].commandId}`)
  t.ok(['queued', 'accepted'].includes(polled.body.outcome))
})

t.test('a batch counts as one request against the per-token rate limit', async (t) => {
  const api = await startTestService(t, { env: { WAYBILL_RATE_LIMIT: '1' } })
  const a = await scanner(api, 'hand-1')
  await new Promise((resolve) => setTimeout(resolve, 1100))
  const full = await a.batch(Array.from({ length: 1000 }, (_, i) => ({ seq: i + 1, shipmentId: `Q${i}`, command: { type: 'REGISTER' } })))
  t.equal(full.status, 200, 'a thousand items in one request: within a limit of one request per second')
  // Counted once: the window's one request is spent (read from the answer, not from the clock: on a
  // slow machine the batch itself may outlast the second).
  t.equal(full.headers['x-ratelimit-limit'], '1')
  t.equal(full.headers['x-ratelimit-remaining'], '0', 'the batch spent the one request of its window')
})
