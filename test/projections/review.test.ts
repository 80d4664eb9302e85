import t, { type Test } from 'tap'
import type { CommandPayload } from '../../src/store/types.js'
import { ProcessStats } from '../../src/projections/process-stats.js'
import { ReviewQueries } from '../../src/projections/review-queries.js'
import { reviewProjection } from '../../src/projections/review.js'
import { eachAdapter } from '../helpers/adapters.js'
import { command, localLoop } from '../helpers/decider.js'

// The review read model and its queries on a known history, on both adapters, with the clock under
// control: every number below is worked out by hand from the story.
const minute = 60_000
const t0 = Date.parse('2026-11-27T08:00:00Z')
const window = { from: t0, to: t0 + 100 * minute }
const now = t0 + 100 * minute

eachAdapter(t, 'who, where, how long: the review read model', async (t, adapter) => {
  const storage = await adapter.storage()
  const loop = localLoop(storage.store, { batchMax: 100, snapshotEvery: 16, clock: { now: t0, tick: false } })
  await loop.claim('me', 0)
  const at = async (minutes: number, streamId: string, payload: CommandPayload, who: { device: string; operator?: string; scannedAt?: number }) => {
    loop.clock.now = t0 + minutes * minute
    const metadata = { deviceId: who.device, ...(who.operator ? { operatorId: who.operator } : {}), ...(who.scannedAt === undefined ? {} : { scannedAt: new Date(t0 + who.scannedAt * minute).toISOString() }) }
    const submitted = loop.intake.submit(command(streamId, payload, { metadata, receivedAt: loop.clock.now }))
    // Messages between the truck and its shipments make more work after the first cycle.
    for (let i = 0; i < 10; i++) await loop.worker.kick()
    await submitted
  }
  // Truck T1 (capacity 2, to Lyon) opens at 0. A and B go on it and leave with its departure at 30;
  // A is delivered at 90. C (no destination) finds it full at 15. D goes on a truck id only (V9) and is
  // scanned as shipped at 40; an offline handheld's CANCEL of D, scanned at 35, arrives at 60: late.
  // B's own SHIP at 20 waits for its truck; a parcel nobody registered (E) is scanned at 50.
  await at(0, 'truck:T1', { type: 'OPEN', capacity: 2, destination: 'Lyon' }, { device: 'd1', operator: 'o1' })
  await at(0, 'A', { type: 'REGISTER', destination: 'Lyon' }, { device: 'd1', operator: 'o1' })
  await at(5, 'B', { type: 'REGISTER', destination: 'Lyon' }, { device: 'd1', operator: 'o1' })
  await at(6, 'C', { type: 'REGISTER' }, { device: 'd1' })
  await at(7, 'D', { type: 'REGISTER', destination: 'Paris' }, { device: 'd1', operator: 'o2' })
  await at(8, 'D', { type: 'ASSIGN', truckId: 'V9' }, { device: 'd2', operator: 'o2' })
  await at(10, 'A', { type: 'ASSIGN', truckId: 'T1' }, { device: 'd2', operator: 'o2' })
  await at(12, 'B', { type: 'ASSIGN', truckId: 'T1' }, { device: 'd2', operator: 'o2' })
  await at(15, 'C', { type: 'ASSIGN', truckId: 'T1' }, { device: 'd2', operator: 'o2' })
  await at(20, 'B', { type: 'SHIP' }, { device: 'd2', operator: 'o2' })
  await at(30, 'truck:T1', { type: 'DEPART' }, { device: 'd3', operator: 'o3' })
  await at(40, 'D', { type: 'SHIP' }, { device: 'd2', operator: 'o2' })
  await at(50, 'E', { type: 'DELIVER' }, { device: 'd3', operator: 'o3' })
  await at(60, 'D', { type: 'CANCEL' }, { device: 'd4', operator: 'o4', scannedAt: 35 })
  await at(90, 'A', { type: 'DELIVER' }, { device: 'd2', operator: 'o2' })
  t.same(loop.errors, [], 'the story ran without a failure')

  const review = new ReviewQueries(storage.store)

  t.test('summary: now, entered in the window, scans, departures, lead time, stuck', async (t: Test) => {
    const summary = await review.summary(window, 45 * minute, now)
    t.same(summary.shipments.map((s) => [s.state, s.now, s.entered]), [
      ['registered', 1, 4],
      ['assigned', 0, 3],
      ['shipped', 2, 3],
      ['delivered', 1, 1],
      ['cancelled', 0, 0],
    ])
    t.same(summary.commands, { accepted: 11, rejected: 4, late: 1 }, "scanners' commands: messages between the truck and its shipments are not counted")
    t.same(summary.departures, { count: 1, shipments: 2 })
    t.same(summary.leadTime, { samples: 1, p50Ms: 90 * minute, p95Ms: 90 * minute }, 'A: registered at 0, delivered at 90')
    t.same(summary.stuck, { thresholdMs: 45 * minute, total: 3 }, 'C in registered since 6, B shipped since 30, D since 40')
    const before = await review.summary({ from: t0 - 60 * minute, to: t0 - 1 }, 45 * minute, now)
    t.same(before.shipments.map((s) => s.entered), [0, 0, 0, 0, 0], 'nothing entered before the story')
    t.same(before.commands, { accepted: 0, rejected: 0, late: 0 })
  })

  t.test('who: per device and per operator, refusals by reason, late scans', async (t: Test) => {
    t.same(await review.who('device', window), [
      { id: 'd2', commands: 7, accepted: 5, rejected: 2, late: 0, reasons: [{ reason: 'awaiting_departure', count: 1 }, { reason: 'truck_full', count: 1 }] },
      { id: 'd1', commands: 5, accepted: 5, rejected: 0, late: 0, reasons: [] },
      { id: 'd3', commands: 2, accepted: 1, rejected: 1, late: 0, reasons: [{ reason: 'not_found', count: 1 }] },
      { id: 'd4', commands: 1, accepted: 0, rejected: 1, late: 1, reasons: [{ reason: 'invalid_transition', count: 1 }] },
    ])
    t.same((await review.who('operator', window)).map((r) => [r.id, r.commands, r.accepted, r.rejected, r.late]), [
      ['o2', 8, 6, 2, 0],
      ['o1', 3, 3, 0, 0],
      ['o3', 2, 1, 1, 0],
      [null, 1, 1, 0, 0],
      ['o4', 1, 0, 1, 1],
    ])
    const d2 = await review.whoDetail('device', 'd2', window, { limit: 1 })
    t.same(d2.byCommand, [
      { command: 'ASSIGN', accepted: 3, rejected: 1, late: 0 },
      { command: 'DELIVER', accepted: 1, rejected: 0, late: 0 },
      { command: 'SHIP', accepted: 1, rejected: 1, late: 0 },
    ])
    t.match(d2.refused.items, [{ subject: { kind: 'shipment', id: 'B' }, command: 'SHIP', state: 'assigned', reason: 'awaiting_departure', deviceId: 'd2', operatorId: 'o2', late: false }], 'newest refusal first')
    t.ok(d2.refused.next, 'a page at a time')
    const rest = await review.whoDetail('device', 'd2', window, { limit: 1, cursor: d2.refused.next! })
    t.match(rest.refused, { items: [{ subject: { id: 'C' }, reason: 'truck_full' }], next: null })
    const late = await review.whoDetail('operator', 'o4', window, { limit: 10 })
    t.match(late.refused.items, [{ subject: { id: 'D' }, command: 'CANCEL', state: 'shipped', late: true, scannedAt: new Date(t0 + 35 * minute).toISOString() }])
  })

  t.test("/stats counts scanners' refusals of shipments only (not the truck's refused LOAD, a message)", async (t: Test) => {
    const stats = await new ProcessStats(storage.store.sql).read(window, 45 * minute, now)
    t.same(stats.rejections.map((r) => [r.state, r.command, r.reason, r.count]).sort(), [
      ['assigned', 'SHIP', 'awaiting_departure', 1],
      ['registered', 'ASSIGN', 'truck_full', 1],
      ['shipped', 'CANCEL', 'invalid_transition', 1],
      ['unregistered', 'DELIVER', 'not_found', 1],
    ])
  })

  t.test('a refusals row opens its shipments, devices and operators', async (t: Test) => {
    const full = await review.rejections({ state: 'registered', command: 'ASSIGN', reason: 'truck_full' }, window, { limit: 10 })
    t.match(full, { total: 1, late: 0, subjects: { total: 1, items: [{ kind: 'shipment', id: 'C', count: 1 }], next: null }, devices: [{ deviceId: 'd2', count: 1 }], operators: [{ operatorId: 'o2', count: 1 }] })
    const none = await review.rejections({ state: 'registered', command: 'ASSIGN', reason: 'truck_full' }, { from: t0 + 16 * minute, to: now }, { limit: 10 })
    t.same([none.total, none.subjects.items], [0, []], 'outside the window: nothing')
  })

  t.test('where: per destination, counters now and the window', async (t: Test) => {
    const { items } = await review.destinations(window)
    t.same(items.map((d) => [d.destination, d.now.registered, d.now.shipped, d.now.delivered, d.entered.registered, d.entered.delivered, d.leadTime.p50Ms, d.rejected]), [
      ['Lyon', 0, 1, 1, 2, 1, 90 * minute, 1],
      ['Paris', 0, 1, 0, 1, 0, null, 1],
      [null, 1, 0, 0, 1, 0, null, 1],
    ])
  })

  t.test('a state lists its shipments by time in state, with destination and truck, a page at a time', async (t: Test) => {
    const first = await review.stateShipments('shipped', { order: 'longest', limit: 1 }, now)
    t.match(first, { total: 2, items: [{ shipmentId: 'B', forMs: 70 * minute, destination: 'Lyon', truckId: 'T1' }] })
    const second = await review.stateShipments('shipped', { order: 'longest', limit: 1, cursor: first.next! }, now)
    t.match(second, { items: [{ shipmentId: 'D', forMs: 60 * minute, destination: 'Paris', truckId: 'V9' }], next: null })
    t.same((await review.stateShipments('shipped', { order: 'latest', limit: 5 }, now)).items.map((s) => s.shipmentId), ['D', 'B'])
    t.match(await review.stateShipments('registered', { order: 'longest', limit: 5, destination: null }, now), { total: 1, items: [{ shipmentId: 'C', destination: null }] })
    t.match(await review.stateShipments('shipped', { order: 'longest', limit: 5, destination: 'Paris' }, now), { total: 1, items: [{ shipmentId: 'D' }] })
    const stuck = await review.stuck(45 * minute, now, { limit: 2 })
    t.same([stuck.total, stuck.items.map((s) => s.shipmentId)], [3, ['C', 'B']])
    t.same((await review.stuck(45 * minute, now, { limit: 2, cursor: stuck.next! })).items.map((s) => s.shipmentId), ['D'], 'the stuck list pages')
  })

  t.test('trucks: the board, the truck chart numbers, one truck', async (t: Test) => {
    t.match((await review.truckBoard(window)).items, [{ truckId: 'T1', state: 'departed', load: 2, held: 0, capacity: 2, destination: 'Lyon', departures: 1, shipped: 2 }])
    const numbers = await review.truckNumbers(window)
    t.same(numbers.states.map((s) => [s.state, s.count, s.dwell?.p50Ms]), [['loading', 0, 30 * minute], ['departed', 1, null]])
    t.same(Object.fromEntries(numbers.transitions.map((tr) => [tr.id, tr.count])), {
      'unopened:OPEN': 1, 'loading:LOAD': 2, 'loading:UNLOAD': 0, 'loading:CONFIRM': 0, 'loading:RELEASE': 0, 'loading:DEPART': 1, 'departed:RETURN': 0,
    })
    t.same(numbers.rejections, [], "the truck's refused LOAD is a message: C's refused ASSIGN is the one counted (on the shipment chart)")
    t.match(await review.truck('T1', window), { truck: { manifest: ['A', 'B'] }, departures: [{ truckId: 'T1', load: 2, deviceId: 'd3', operatorId: 'o3' }], manifest: [{ shipmentId: 'A', state: 'delivered' }, { shipmentId: 'B', state: 'shipped' }] })
    t.equal(await review.truck('T9', window), undefined)
  })

  t.test("a shipment: its path at any step, and the departure that shipped it", async (t: Test) => {
    const a = await review.shipment('A')
    t.match(a, {
      version: 4, latest: 4, current: 'delivered', state: 'delivered', destination: 'Lyon', leadMs: 90 * minute,
      path: { transitions: ['unregistered:REGISTER', 'registered:ASSIGN', 'assigned:DEPART_SHIP', 'shipped:DELIVER'] },
      departure: { truckId: 'T1', load: 2, deviceId: 'd3', departedAt: new Date(t0 + 30 * minute).toISOString() },
    })
    t.same(a!.path.states.sort(), ['assigned', 'atDepot', 'delivered', 'registered', 'shipped', 'unregistered'])
    const early = await review.shipment('A', 2)
    t.match(early, { version: 2, current: 'assigned', path: { transitions: ['unregistered:REGISTER', 'registered:ASSIGN'] } })
    t.equal((await review.shipment('D'))!.departure, null, 'D was scanned as shipped, no departure')
    t.equal(await review.shipment('E'), undefined, 'never registered')
  })

  t.test('compared with the day and the week before', async (t: Test) => {
    const comparison = await review.compare({ from: t0, to: t0 + 2 * 60 * minute - 1 })
    const [today, day, week] = comparison.series
    t.same(today!.hours.map((h) => h.moves), [10, 1], 'first hour: 4 registered, 3 assigned, 3 shipped; second: A delivered')
    t.same(today!.entered, { registered: 4, assigned: 3, shipped: 3, delivered: 1, cancelled: 0 })
    t.same([day!.hours.length, day!.entered.registered, week!.entered.registered], [2, 0, 0])
  })

  t.test('ignores events of other kinds; a rebuild gives the same rows', async (t: Test) => {
    const truckEvent = { position: 1, streamId: 'truck:T1', version: 1, type: 'TruckOpened', data: { capacity: 2 }, metadata: { commandId: 'x' }, recordedAt: 0 }
    t.notOk(reviewProjection.project(truckEvent).some((w) => w.statement === 'step' || w.statement === 'shipment'), "a truck's event writes no shipment row")
    const rows = async () =>
      Promise.all(reviewProjection.tables.map((table) => storage.store.sql.all(`SELECT * FROM ${table} ORDER BY 1, 2`)))
    const live = await rows()
    t.ok(live.every((r) => r.length > 0), 'every review table has rows')
    await storage.store.rebuildProjections()
    t.same(await rows(), live, 'rebuilt from the log: the same rows')
  })
})

// The destination counters are kept, not counted per request: after any history they must equal a
// count of the shipments' rows, reassignments (a step that stays in its state) and cancellations included.
eachAdapter(t, 'the destination counters equal a count of the shipments, whatever the steps', async (t, adapter) => {
  const storage = await adapter.storage()
  const loop = localLoop(storage.store, { batchMax: 100, snapshotEvery: 16, clock: { now: t0, tick: true } })
  await loop.claim('me', 0)
  const steps: Array<[string, CommandPayload]> = [
    ['A', { type: 'REGISTER', destination: 'Lyon' }], ['B', { type: 'REGISTER', destination: 'Lyon' }], ['C', { type: 'REGISTER' }], ['D', { type: 'REGISTER', destination: 'Paris' }],
    ['A', { type: 'ASSIGN', truckId: 'V1' }], ['A', { type: 'ASSIGN', truckId: 'V2' }], ['A', { type: 'ASSIGN', truckId: 'V3' }],
    ['B', { type: 'ASSIGN', truckId: 'V1' }], ['B', { type: 'UNASSIGN' }], ['B', { type: 'CANCEL' }],
    ['C', { type: 'ASSIGN', truckId: 'V1' }], ['C', { type: 'SHIP' }], ['C', { type: 'DELIVER' }],
    ['D', { type: 'ASSIGN', truckId: 'V2' }], ['D', { type: 'ASSIGN', truckId: 'V2' }], ['D', { type: 'SHIP' }],
  ]
  for (const [id, payload] of steps) {
    const submitted = loop.intake.submit(command(id, payload, { metadata: { deviceId: 'd1' } }))
    await loop.worker.kick()
    await submitted
  }
  const counters = async () =>
    (await storage.store.sql.all<{ destination: string; state: string; n: number }>('SELECT destination, state, n FROM review_destinations WHERE n <> 0 ORDER BY 1, 2'))
      .map((r) => `${r.destination}/${r.state}: ${Number(r.n)}`)
  const counted = async () =>
    (await storage.store.sql.all<{ destination: string; state: string; n: number }>(
      "SELECT coalesce(destination, '') AS destination, state, count(*) AS n FROM review_shipments GROUP BY coalesce(destination, ''), state ORDER BY 1, 2",
    )).map((r) => `${r.destination}/${r.state}: ${Number(r.n)}`)
  t.same(await counters(), ['/delivered: 1', 'Lyon/assigned: 1', 'Lyon/cancelled: 1', 'Paris/shipped: 1'], 'worked out from the steps')
  t.same(await counters(), await counted(), 'a count of the shipments says the same')
  await storage.store.rebuildProjections()
  t.same(await counters(), await counted(), 'and after a rebuild')
})
