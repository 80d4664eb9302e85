import t from 'tap'
import { startTestService } from '../helpers/service.js'

// Trucks through HTTP, one process holding every partition: the saga's messages are decided in the
// cycle that sends them, so every answer is final.
t.test('a truck: capacity, SHIP awaiting its departure, a departure that ships its load, RETURN', async (t) => {
  const { request, command } = await startTestService(t)
  const truck = (body: unknown, headers?: Record<string, string>) => request('POST', '/trucks/T1/commands', body, headers)

  const opened = await truck({ type: 'OPEN', capacity: 2, destination: 'Lyon' })
  t.equal(opened.status, 201)
  t.match(opened.body, { outcome: 'accepted', truck: { truckId: 'T1', state: 'loading', capacity: 2, load: 0, manifest: [], destination: 'Lyon', allowed: ['DEPART'] }, event: { type: 'TruckOpened', version: 1 } })
  t.equal((await truck({ type: 'OPEN' })).body.reason, 'already_registered')

  for (const id of ['S1', 'S2', 'S3']) t.equal((await command(id, { type: 'REGISTER' })).status, 201)
  const s1 = await command('S1', { type: 'ASSIGN', truckId: 'T1' })
  t.equal(s1.status, 200)
  t.match(s1.body.shipment, { state: 'assigned', truckId: 'T1', allowed: ['ASSIGN', 'UNASSIGN', 'CANCEL'] })
  t.match(s1.body.event, { type: 'TruckAssigned', version: 2 })
  const ship = await command('S1', { type: 'SHIP' })
  t.equal(ship.status, 409)
  t.match(ship.body, { type: '/problems/awaiting-departure', reason: 'awaiting_departure', allowed: ['ASSIGN', 'UNASSIGN', 'CANCEL'] })

  t.equal((await command('S2', { type: 'ASSIGN', truckId: 'T1' })).status, 200)
  const full = await command('S3', { type: 'ASSIGN', truckId: 'T1' })
  t.equal(full.status, 409)
  t.match(full.body, { type: '/problems/truck-full', reason: 'truck_full', shipment: { state: 'registered', truckId: null } })
  t.match((await request('GET', '/trucks/T1')).body, { load: 2, manifest: ['S1', 'S2'] })

  t.equal((await command('S2', { type: 'UNASSIGN' })).status, 200, 'UNASSIGN frees the place')
  t.equal((await command('S3', { type: 'ASSIGN', truckId: 'T1' })).status, 200)
  t.match((await request('GET', '/trucks/T1')).body, { load: 2, manifest: ['S1', 'S3'] })

  const departed = await truck({ type: 'DEPART' })
  t.equal(departed.status, 200)
  t.match(departed.body, { outcome: 'accepted', truck: { state: 'departed', manifest: ['S1', 'S3'], allowed: ['RETURN'] }, event: { type: 'TruckDeparted' } })
  for (const id of ['S1', 'S3']) {
    const events = (await request('GET', `/shipments/${id}/events`)).body.events
    t.match(events.at(-1), { type: 'ShipmentShipped', data: { truckId: 'T1', byDeparture: true }, metadata: { causationId: departed.body.commandId } }, `${id} shipped by the departure`)
    t.match((await request('GET', `/shipments/${id}`)).body, { state: 'shipped' })
  }
  t.match((await request('GET', '/shipments/S2')).body, { state: 'registered' }, 'S2 stayed behind, unassigned')
  const late = await command('S2', { type: 'ASSIGN', truckId: 'T1' })
  t.match([late.status, late.body.reason], [409, 'truck_departed'])
  t.equal((await truck({ type: 'DEPART' })).body.reason, 'invalid_transition')

  const back = await truck({ type: 'RETURN' })
  t.match([back.status, back.body.truck], [200, { state: 'loading', load: 0, manifest: [] }])
  t.equal((await command('S2', { type: 'ASSIGN', truckId: 'T1' })).status, 200, 'loading again')
  t.match((await request('GET', '/trucks/T1/events')).body.events.map((e: { type: string }) => e.type), [
    'TruckOpened', 'ShipmentLoaded', 'ShipmentLoaded', 'ShipmentUnloaded', 'ShipmentLoaded', 'TruckDeparted', 'TruckReturned', 'ShipmentLoaded',
  ])
  const feed = (await request('GET', '/events?after=0&limit=1000')).body.events
  t.ok(feed.every((e: { streamType: string; shipmentId?: string; truckId?: string }) => (e.streamType === 'truck' ? e.truckId === 'T1' && e.shipmentId === undefined : typeof e.shipmentId === 'string')), 'the feed names each event’s stream type and id')
  t.match((await request('GET', '/trucks/T1?version=6')).body, { state: 'departed', manifest: ['S1', 'S3'] }, 'time travel')
  t.match((await request('GET', '/trucks?state=loading')).body, { items: [{ truckId: 'T1' }], next: null })
})

t.test('reassigning between opened trucks holds the new place until the old truck lets go', async (t) => {
  const { request, command } = await startTestService(t)
  for (const [id, capacity] of [['A', 5], ['B', 1]] as const) t.equal((await request('POST', `/trucks/${id}/commands`, { type: 'OPEN', capacity })).status, 201)
  await command('S', { type: 'REGISTER' })
  t.equal((await command('S', { type: 'ASSIGN', truckId: 'A' })).status, 200)
  const moved = await command('S', { type: 'ASSIGN', truckId: 'B' })
  t.equal(moved.status, 200)
  t.match(moved.body.event, { type: 'TruckAssigned' })
  t.match((await request('GET', '/shipments/S/events')).body.events.at(-1).data, { truckId: 'B', previousTruckId: 'A', opened: true })
  t.match((await request('GET', '/trucks/A')).body, { manifest: [], reserved: [] })
  t.match((await request('GET', '/trucks/B')).body, { manifest: ['S'], reserved: [] })
  t.same((await request('GET', '/trucks/B/events')).body.events.map((e: { type: string }) => e.type), ['TruckOpened', 'ShipmentLoaded', 'LoadConfirmed'])

  // A departed with S2 (answered once S2 shipped): S2 cannot be moved or cancelled any more.
  await command('S2', { type: 'REGISTER' })
  t.equal((await command('S2', { type: 'ASSIGN', truckId: 'A' })).status, 200)
  t.equal((await request('POST', '/trucks/A/commands', { type: 'DEPART' })).status, 200)
  t.equal((await request('POST', '/trucks/B/commands', { type: 'RETURN' })).status, 409, 'B never departed')
  t.match((await request('GET', '/shipments/S2')).body, { state: 'shipped', truckId: 'A' })
  t.match((await command('S2', { type: 'ASSIGN', truckId: 'B' })).body, { reason: 'invalid_transition' })
  t.match((await command('S2', { type: 'CANCEL' })).body, { reason: 'invalid_transition' })
  t.match((await request('GET', '/trucks/B')).body, { manifest: ['S'], reserved: [] }, 'nothing held on B')
})

t.test('a truck never opened is a truck id only (v1): no capacity, no departure', async (t) => {
  const { request, command } = await startTestService(t)
  await command('V1', { type: 'REGISTER' })
  const assigned = await command('V1', { type: 'ASSIGN', truckId: 'X9' })
  t.equal(assigned.status, 200)
  t.same(assigned.body.event.version, 2)
  t.match((await request('GET', '/shipments/V1/events')).body.events.at(-1).data, { truckId: 'X9', previousTruckId: null })
  t.notOk('opened' in (await request('GET', '/shipments/V1/events')).body.events.at(-1).data)
  t.equal((await command('V1', { type: 'SHIP' })).status, 200, 'shipped by its own SHIP')
  const unknown = await request('POST', '/trucks/X9/commands', { type: 'DEPART' })
  t.match([unknown.status, unknown.body.type, unknown.body.reason], [404, '/problems/truck-not-found', 'not_found'])
  t.equal((await request('GET', '/trucks/X9')).status, 404)
  t.equal((await request('GET', '/machines/truck')).body.id, 'truck')
})

t.test('verify judges the rules across actors, and names each kind of breach (negative controls)', async (t) => {
  const { verify } = await import('../../src/operations/verify.js')
  const { service, request, command } = await startTestService(t)
  const store = service.storage.store
  await request('POST', '/trucks/T1/commands', { type: 'OPEN', capacity: 3 })
  for (const id of ['A', 'B']) {
    await command(id, { type: 'REGISTER' })
    await command(id, { type: 'ASSIGN', truckId: 'T1' })
  }
  await request('POST', '/trucks/T1/commands', { type: 'DEPART' })
  const clean = await verify(store)
  t.same([clean.problems, clean.inFlight], [[], 0], 'a finished departure: every rule holds')

  // Events written around the sagas (each stream still a valid path of its own machine).
  const meta = (commandId: string) => ({ commandId, machineVersion: '2' })
  const at = Date.now()
  await store.importEvents(
    [
      // T1: a shipment assigned to opened truck T2 that never gave it a place.
      { streamId: 'truck:T2', version: 1, type: 'TruckOpened', data: { capacity: null }, metadata: meta('o2'), recordedAt: at },
      { streamId: 'X', version: 1, type: 'ShipmentRegistered', data: {}, metadata: meta('x1'), recordedAt: at },
      { streamId: 'X', version: 2, type: 'TruckAssigned', data: { truckId: 'T2', previousTruckId: null, opened: true }, metadata: meta('x2'), recordedAt: at },
      // T2 and T3: truck T3 departs with Y on its manifest; Y is never shipped and stays assigned to it.
      { streamId: 'truck:T3', version: 1, type: 'TruckOpened', data: { capacity: null }, metadata: meta('o3'), recordedAt: at },
      { streamId: 'truck:T3', version: 2, type: 'ShipmentLoaded', data: { shipmentId: 'Y', reserved: false }, metadata: meta('l3'), recordedAt: at },
      { streamId: 'truck:T3', version: 3, type: 'TruckDeparted', data: { manifest: ['Y'] }, metadata: meta('d3'), recordedAt: at },
      { streamId: 'Y', version: 1, type: 'ShipmentRegistered', data: {}, metadata: meta('y1'), recordedAt: at },
      { streamId: 'Y', version: 2, type: 'TruckAssigned', data: { truckId: 'T3', previousTruckId: null, opened: true }, metadata: meta('y2'), recordedAt: at },
    ],
    [],
  )
  const broken = await verify(store)
  t.match(broken.problems.find((p) => p.startsWith('T1')), /truck T2: manifest \[\], shipments assigned to it \["X"\]/)
  t.match(broken.problems.find((p) => p.startsWith('T2')), /Y: on the manifest of departure d3 of truck T3, shipped by it 0 times/)
  t.match(broken.problems.find((p) => p.startsWith('T3')), /Y: assigned to truck T3, which has departed without it/)
})

t.test('every (truck state, command) pair over HTTP: status, reason, allowed', async (t) => {
  const { request } = await startTestService(t)
  let n = 0
  /** A fresh truck in `state`. */
  const truckIn = async (state: 'unopened' | 'loading' | 'departed') => {
    const id = `P${++n}`
    if (state !== 'unopened') t.equal((await request('POST', `/trucks/${id}/commands`, { type: 'OPEN', capacity: 5 })).status, 201)
    if (state === 'departed') t.equal((await request('POST', `/trucks/${id}/commands`, { type: 'DEPART' })).status, 200)
    return id
  }
  const expected = {
    unopened: { OPEN: [201, null], DEPART: [404, 'not_found'], RETURN: [404, 'not_found'] },
    loading: { OPEN: [409, 'already_registered'], DEPART: [200, null], RETURN: [409, 'invalid_transition'] },
    departed: { OPEN: [409, 'already_registered'], DEPART: [409, 'invalid_transition'], RETURN: [200, null] },
  } as const
  for (const [state, commands] of Object.entries(expected)) {
    for (const [type, [status, reason]] of Object.entries(commands)) {
      const id = await truckIn(state as keyof typeof expected)
      const res = await request('POST', `/trucks/${id}/commands`, { type })
      t.same([res.status, res.body.reason ?? null], [status, reason], `${state} · ${type}`)
      if (status === 409) t.same(res.body.allowed, state === 'loading' ? ['DEPART'] : ['RETURN'], `${state} · ${type}: allowed`)
    }
  }
  t.equal((await request('POST', '/trucks/P99/commands', { type: 'LOAD', shipmentId: 'S' })).status, 400, 'messages between actors are not scanners’ commands')
  t.equal((await request('POST', '/trucks/P99/commands', { type: 'OPEN', capacity: 0 })).status, 400)
  t.equal((await request('POST', '/trucks/P99/commands', { type: 'OPEN', capacity: 10001 })).status, 400)
})

t.test('capacity under a race: 50 scanners assign 50 shipments to a truck of capacity 10 at once', async (t) => {
  const { service } = await startTestService(t, { http: true })
  const { http } = await import('../helpers/service.js')
  const base = service.url!
  t.equal((await http(base, 'POST', '/trucks/RACE/commands', { type: 'OPEN', capacity: 10 })).status, 201)
  await Promise.all(Array.from({ length: 50 }, (_, i) => http(base, 'POST', `/shipments/R${i}/commands`, { type: 'REGISTER' })))
  const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => http(base, 'POST', `/shipments/R${i}/commands`, { type: 'ASSIGN', truckId: 'RACE' })))
  const statuses = answers.map((a) => (a.status === 200 ? 'accepted' : a.body.reason))
  t.equal(statuses.filter((s) => s === 'accepted').length, 10, 'exactly 10 accepted')
  t.equal(statuses.filter((s) => s === 'truck_full').length, 40, '40 truck_full')
  const truck = (await http(base, 'GET', '/trucks/RACE')).body
  t.equal(truck.load, 10)
  t.same([...truck.manifest].sort(), answers.flatMap((a, i) => (a.status === 200 ? [`R${i}`] : [])).sort(), 'the manifest is the accepted ones')
  t.same((await (await import('../../src/operations/verify.js')).verify(service.storage.store)).problems, [])
})

t.test('ASSIGN racing DEPART, 20 rounds with random timing: on the manifest and shipped, or refused truck_departed', async (t) => {
  const { service } = await startTestService(t, { http: true })
  const { http } = await import('../helpers/service.js')
  const { seeded } = await import('../helpers/scanners.js')
  const random = seeded(1313)
  const base = service.url!
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
  let onManifest = 0
  let refused = 0
  for (let round = 0; round < 20; round++) {
    const truck = `RD${round}`
    t.equal((await http(base, 'POST', `/trucks/${truck}/commands`, { type: 'OPEN' })).status, 201)
    const ids = Array.from({ length: 8 }, (_, i) => `RD${round}-${i}`)
    await Promise.all(ids.map((id) => http(base, 'POST', `/shipments/${id}/commands`, { type: 'REGISTER' })))
    const [departed, ...assigns] = await Promise.all([
      sleep(random() * 15).then(() => http(base, 'POST', `/trucks/${truck}/commands`, { type: 'DEPART' })),
      ...ids.map((id) => sleep(random() * 15).then(() => http(base, 'POST', `/shipments/${id}/commands`, { type: 'ASSIGN', truckId: truck }))),
    ])
    t.equal(departed!.status, 200)
    const manifest: string[] = departed!.body.truck.manifest
    for (const [i, id] of ids.entries()) {
      const shipment = (await http(base, 'GET', `/shipments/${id}`)).body
      if (assigns[i]!.status === 200) {
        onManifest++
        if (!manifest.includes(id) || shipment.state !== 'shipped') t.fail(`${id}: assigned but ${shipment.state}, manifest ${manifest}`)
      } else {
        refused++
        if (assigns[i]!.body.reason !== 'truck_departed' || shipment.state !== 'registered' || manifest.includes(id)) t.fail(`${id}: ${assigns[i]!.status} ${assigns[i]!.body.reason}, ${shipment.state}`)
      }
    }
  }
  t.ok(onManifest > 0 && refused > 0, `both ends of the race were reached: ${onManifest} shipped with their truck, ${refused} refused truck_departed`)
  t.same((await (await import('../../src/operations/verify.js')).verify(service.storage.store)).problems, [], 'no shipment assigned to a departed truck')
})
