import t from 'tap'
import { transition } from 'xstate'
import { truckChart, truckDecider, truckKind, truckMachine, type TruckCommand, type TruckSnapshot } from '../../../machines/truck/index.js'

// Every (truck state, command) pair through the pure decider: outcome, reason, event, and the
// `allowed` lists scanners see. Given/when/then: a history of commands, then one more.
const { decide, evolve, initialSnapshot, stateOf, allowed } = truckDecider

function given(...commands: TruckCommand[]): TruckSnapshot {
  let snapshot = initialSnapshot()
  for (const command of commands) {
    const decision = decide(snapshot, command)
    if (decision.outcome !== 'accepted') throw new Error(`setup: ${command.type} refused (${decision.reason})`)
    snapshot = decision.snapshot
  }
  return snapshot
}

const load = (shipmentId: string, hold = false): TruckCommand => ({ type: 'LOAD', shipmentId, hold })
const loading = () => given({ type: 'OPEN', capacity: 2, destination: 'Lyon' })
const departed = () => given({ type: 'OPEN', capacity: 2 }, load('S1'), { type: 'DEPART' })

t.test('unopened: only OPEN; everything else is not_found', async (t) => {
  const opened = decide(initialSnapshot(), { type: 'OPEN', capacity: 10, destination: 'Lyon' })
  t.match(opened, { outcome: 'accepted', event: { type: 'TruckOpened', data: { capacity: 10, destination: 'Lyon' } } })
  t.equal(stateOf(given({ type: 'OPEN' })), 'loading')
  t.match(decide(initialSnapshot(), { type: 'OPEN' }), { outcome: 'accepted', event: { data: { capacity: null } } }, 'no capacity: unlimited')
  for (const command of [{ type: 'DEPART' }, { type: 'RETURN' }, load('S1'), { type: 'UNLOAD', shipmentId: 'S1' }, { type: 'CONFIRM', shipmentId: 'S1' }, { type: 'RELEASE', shipmentId: 'S1' }] as TruckCommand[]) {
    t.match(decide(initialSnapshot(), command), { outcome: 'rejected', reason: 'not_found', state: 'unopened' }, command.type)
  }
  t.same(allowed(initialSnapshot()), ['OPEN'])
})

t.test('loading: places up to the capacity, reservations count, then truck_full', async (t) => {
  const one = decide(loading(), load('S1'))
  t.match(one, { outcome: 'accepted', event: { type: 'ShipmentLoaded', data: { shipmentId: 'S1', reserved: false } } })
  const held = decide(given({ type: 'OPEN', capacity: 2 }, load('S1')), load('S2', true))
  t.match(held, { outcome: 'accepted', event: { data: { shipmentId: 'S2', reserved: true } } })
  const full = given({ type: 'OPEN', capacity: 2 }, load('S1'), load('S2', true))
  t.match(decide(full, load('S3')), { outcome: 'rejected', reason: 'truck_full', detail: 'the truck is full (2 of 2)' })
  t.match(decide(given({ type: 'OPEN' }, load('S1')), load('S2')), { outcome: 'accepted' }, 'no capacity: no limit')
  t.match(decide(loading(), { type: 'OPEN' }), { outcome: 'rejected', reason: 'already_registered' })
  t.match(decide(loading(), { type: 'RETURN' }), { outcome: 'rejected', reason: 'invalid_transition', detail: 'cannot RETURN a truck that is loading' })
})

t.test('loading: UNLOAD frees a place; CONFIRM and RELEASE settle a reservation', async (t) => {
  const truck = given({ type: 'OPEN', capacity: 2 }, load('S1'), load('S2', true))
  const unloaded = decide(truck, { type: 'UNLOAD', shipmentId: 'S1' })
  t.match(unloaded, { outcome: 'accepted', event: { type: 'ShipmentUnloaded' } })
  t.match(decide(truck, { type: 'UNLOAD', shipmentId: 'S9' }), { outcome: 'rejected', reason: 'invalid_transition' }, 'not on it')
  t.match(decide(truck, { type: 'UNLOAD', shipmentId: 'S2' }), { outcome: 'rejected' }, 'a reservation is released, not unloaded')
  const confirmed = decide(truck, { type: 'CONFIRM', shipmentId: 'S2' })
  t.match(confirmed, { outcome: 'accepted', event: { type: 'LoadConfirmed' } })
  if (confirmed.outcome === 'accepted') t.same(confirmed.snapshot.context.manifest, ['S1', 'S2'])
  const released = decide(truck, { type: 'RELEASE', shipmentId: 'S2' })
  if (released.outcome === 'accepted') t.same([released.snapshot.context.manifest, released.snapshot.context.reserved], [['S1'], []])
  t.match(decide(truck, { type: 'CONFIRM', shipmentId: 'S1' }), { outcome: 'rejected' }, 'nothing held for S1')
})

t.test('DEPART: with its manifest; not while places are held; RETURN empties it', async (t) => {
  const gone = decide(given({ type: 'OPEN', capacity: 2 }, load('S1'), load('S2')), { type: 'DEPART' })
  t.match(gone, { outcome: 'accepted', event: { type: 'TruckDeparted', data: { manifest: ['S1', 'S2'] } } })
  t.match(decide(given({ type: 'OPEN', capacity: 2 }, load('S2', true)), { type: 'DEPART' }), { outcome: 'rejected', reason: 'reservations_open' })
  t.same(allowed(given({ type: 'OPEN', capacity: 2 }, load('S2', true))), [], 'DEPART not allowed while a place is held')
  t.same(allowed(loading()), ['DEPART'])
  t.equal(stateOf(departed()), 'departed')
  for (const command of [load('S2'), { type: 'UNLOAD', shipmentId: 'S1' }] as TruckCommand[]) t.match(decide(departed(), command), { outcome: 'rejected', reason: 'truck_departed' }, command.type)
  t.match(decide(departed(), { type: 'DEPART' }), { outcome: 'rejected', reason: 'invalid_transition' })
  t.match(decide(departed(), { type: 'OPEN' }), { outcome: 'rejected', reason: 'already_registered' })
  t.same(allowed(departed()), ['RETURN'])
  const back = decide(departed(), { type: 'RETURN' })
  t.match(back, { outcome: 'accepted', event: { type: 'TruckReturned' } })
  if (back.outcome === 'accepted') t.same([stateOf(back.snapshot), back.snapshot.context.manifest], ['loading', []])
  // It remembers how often it left (an UNLOAD finding it loading again without the shipment: that place left with it).
  t.equal(loading().context.departures, 0)
  if (gone.outcome === 'accepted') t.equal(gone.snapshot.context.departures, 1, 'DEPART counts a departure')
  if (back.outcome === 'accepted') t.equal(back.snapshot.context.departures, 1, 'RETURN keeps the count')
})

t.test('replay: every event evolves to the state its decision made; the step equals transition()', async (t) => {
  const commands: TruckCommand[] = [{ type: 'OPEN', capacity: 3 }, load('A'), load('B', true), { type: 'CONFIRM', shipmentId: 'B' }, load('C'), { type: 'UNLOAD', shipmentId: 'A' }, { type: 'DEPART' }, { type: 'RETURN' }, load('D')]
  let live = initialSnapshot()
  let replayed = initialSnapshot()
  for (const command of commands) {
    const decision = decide(live, command)
    if (decision.outcome !== 'accepted') throw new Error(`${command.type} refused`)
    t.same(truckDecider.step(live, command).context, transition(truckMachine, live, command)[0].context)
    live = decision.snapshot
    replayed = evolve(replayed, decision.event)
    t.same([stateOf(replayed), replayed.context], [stateOf(live), live.context])
  }
  t.throws(() => evolve(initialSnapshot(), { type: 'TruckDeparted', data: { manifest: [] } }), /not a valid transition/)
  t.same(truckKind.restore(truckKind.persist(live)).context, live.context, 'persist → restore is the identity')
})

t.test('the chart: the truck as data, messages marked internal, scanners see OPEN/DEPART/RETURN', async (t) => {
  t.same(truckChart.commands, ['OPEN', 'DEPART', 'RETURN'])
  t.same(truckChart.states.map((s) => s.id), ['unopened', 'loading', 'departed'])
  t.same(truckChart.transitions.filter((tr) => tr.internal).map((tr) => tr.command).sort(), ['CONFIRM', 'LOAD', 'RELEASE', 'UNLOAD'])
  t.match(truckChart.transitions.find((tr) => tr.id === 'loading:DEPART'), { to: 'departed', event: 'TruckDeparted', guard: 'noReservations', rejection: 'reservations_open' })
})

t.test('the truck machine version changes with the machine (fingerprint)', async (t) => {
  // If this fails you changed the truck's statechart: bump `version` in machine.ts and update this.
  const { createHash } = await import('node:crypto')
  const fingerprint = JSON.stringify({ states: truckChart.states, transitions: truckChart.transitions.map(({ description: _d, ...rest }) => rest) })
  t.same({ version: truckChart.version, fingerprint: createHash('sha256').update(fingerprint).digest('hex').slice(0, 16) }, { version: '2', fingerprint: '2b7f4c494387ddf4' })
})
