import fc from 'fast-check'
import { allowedByState } from './rules.js'
import t from 'tap'
import { transition } from 'xstate'
import {
  shipmentMachine,
  step,
  decide,
  evolve,
  initialSnapshot,
  InvalidHistoryError,
  persist,
  replay,
  restore,
  stateOf,
  type ShipmentCommand,
  type ShipmentEvent,
  type ShipmentSnapshot,
} from '../../../machines/shipment/index.js'

// Given/when/then over the pure decider. The expectations are docs/api.md's rules written out by hand, an
// oracle independent of the machine definition.
const given = (...commands: ShipmentCommand[]): ShipmentSnapshot => {
  let snapshot = initialSnapshot()
  for (const command of commands) {
    const decision = decide(snapshot, command)
    if (decision.outcome !== 'accepted') throw new Error(`setup command ${command.type} was rejected: ${decision.reason}`)
    snapshot = decision.snapshot
  }
  return snapshot
}

const histories = {
  unregistered: [],
  registered: [{ type: 'REGISTER' }],
  assigned: [{ type: 'REGISTER' }, { type: 'ASSIGN', truckId: 'T1' }],
  shipped: [{ type: 'REGISTER' }, { type: 'ASSIGN', truckId: 'T1' }, { type: 'SHIP' }],
  delivered: [{ type: 'REGISTER' }, { type: 'ASSIGN', truckId: 'T1' }, { type: 'SHIP' }, { type: 'DELIVER' }],
  cancelled: [{ type: 'REGISTER' }, { type: 'CANCEL' }],
} satisfies Record<string, ShipmentCommand[]>

const commands = {
  REGISTER: { type: 'REGISTER', origin: 'Depot A', destination: 'Town B' },
  'ASSIGN T1': { type: 'ASSIGN', truckId: 'T1' },
  'ASSIGN T2': { type: 'ASSIGN', truckId: 'T2' },
  UNASSIGN: { type: 'UNASSIGN' },
  SHIP: { type: 'SHIP' },
  DELIVER: { type: 'DELIVER', receivedBy: 'Ms. Receiver' },
  CANCEL: { type: 'CANCEL', reason: 'customer changed their mind' },
} satisfies Record<string, ShipmentCommand>

type Expect = { to: string; event: ShipmentEvent['type'] } | { reason: string }
const ok = (to: string, event: ShipmentEvent['type']): Expect => ({ to, event })
const no = (reason: string): Expect => ({ reason })
const invalid = no('invalid_transition')

const expected: Record<keyof typeof histories, Record<keyof typeof commands, Expect>> = {
  unregistered: {
    REGISTER: ok('registered', 'ShipmentRegistered'),
    'ASSIGN T1': no('not_found'), 'ASSIGN T2': no('not_found'), UNASSIGN: no('not_found'),
    SHIP: no('not_found'), DELIVER: no('not_found'), CANCEL: no('not_found'),
  },
  registered: {
    REGISTER: no('already_registered'),
    'ASSIGN T1': ok('assigned', 'TruckAssigned'), 'ASSIGN T2': ok('assigned', 'TruckAssigned'),
    UNASSIGN: invalid, SHIP: invalid, DELIVER: invalid,
    CANCEL: ok('cancelled', 'ShipmentCancelled'),
  },
  assigned: {
    REGISTER: no('already_registered'),
    'ASSIGN T1': no('same_truck'), 'ASSIGN T2': ok('assigned', 'TruckAssigned'),
    UNASSIGN: ok('registered', 'TruckUnassigned'), SHIP: ok('shipped', 'ShipmentShipped'),
    DELIVER: invalid,
    CANCEL: ok('cancelled', 'ShipmentCancelled'),
  },
  shipped: {
    REGISTER: no('already_registered'),
    'ASSIGN T1': invalid, 'ASSIGN T2': invalid, UNASSIGN: invalid, SHIP: invalid,
    DELIVER: ok('delivered', 'ShipmentDelivered'), CANCEL: invalid,
  },
  delivered: {
    REGISTER: no('already_registered'),
    'ASSIGN T1': invalid, 'ASSIGN T2': invalid, UNASSIGN: invalid, SHIP: invalid, DELIVER: invalid, CANCEL: invalid,
  },
  cancelled: {
    REGISTER: no('already_registered'),
    'ASSIGN T1': invalid, 'ASSIGN T2': invalid, UNASSIGN: invalid, SHIP: invalid, DELIVER: invalid, CANCEL: invalid,
  },
}

for (const [state, history] of Object.entries(histories) as [keyof typeof histories, ShipmentCommand[]][]) {
  t.test(`given a shipment that is ${state}`, async (t) => {
    const snapshot = given(...history)
    t.equal(stateOf(snapshot), state)
    for (const [label, command] of Object.entries(commands) as [keyof typeof commands, ShipmentCommand][]) {
      const expectation = expected[state][label]
      const decision = decide(snapshot, command)
      if ('to' in expectation) {
        t.equal(decision.outcome, 'accepted', `when ${label} then it is accepted`)
        if (decision.outcome !== 'accepted') continue
        t.equal(stateOf(decision.snapshot), expectation.to, `when ${label} then it is ${expectation.to}`)
        t.equal(decision.event.type, expectation.event, `when ${label} then ${expectation.event} happened`)
      } else {
        t.equal(decision.outcome, 'rejected', `when ${label} then it is rejected`)
        if (decision.outcome !== 'rejected') continue
        t.equal(decision.reason, expectation.reason, `when ${label} then the reason is ${expectation.reason}`)
        t.equal(decision.state, state)
        t.same(decision.allowed, allowedByState[state], 'the rejection lists what the state allows')
        t.match(decision.detail, command.type === 'REGISTER' ? /already registered/ : /./)
      }
    }
  })
}

t.test('events carry what the read side needs', async (t) => {
  const assigned = given(...histories.assigned)
  const reassigned = decide(assigned, { type: 'ASSIGN', truckId: 'T2' })
  t.match(reassigned, { outcome: 'accepted', event: { type: 'TruckAssigned', data: { truckId: 'T2', previousTruckId: 'T1' } } })
  t.match(decide(assigned, { type: 'UNASSIGN' }), { event: { type: 'TruckUnassigned', data: { truckId: 'T1' } } })
  t.match(decide(assigned, { type: 'SHIP' }), { event: { type: 'ShipmentShipped', data: { truckId: 'T1' } } })
  const registered = decide(initialSnapshot(), { type: 'REGISTER' })
  t.same(registered.outcome === 'accepted' && registered.event.data, {}, 'absent optional fields are not stored as undefined')
  t.match(decide(assigned, { type: 'ASSIGN', truckId: 'T1' }), { detail: 'the shipment is already assigned to truck T1' })
  t.match(decide(given(...histories.shipped), { type: 'DELIVER' }), { outcome: 'accepted' })
  t.match(decide(given(...histories.assigned), { type: 'DELIVER' }), { detail: 'cannot DELIVER a shipment that is assigned' })
})

t.test('context follows the truck', async (t) => {
  t.equal(given(...histories.assigned).context.truckId, 'T1')
  t.equal(given(...histories.shipped).context.truckId, 'T1', 'a shipped shipment stays on its truck')
  t.equal(given(...histories.assigned, { type: 'UNASSIGN' }).context.truckId, null)
  t.equal(given(...histories.assigned, { type: 'CANCEL' }).context.truckId, null, 'a cancelled shipment is unloaded')
  t.same(given({ type: 'REGISTER', origin: 'A' }).context, { truckId: null, origin: 'A', destination: null, onOpenTruck: false })
})

t.test('replay evolves through the same rules and refuses an impossible history', async (t) => {
  const events: ShipmentEvent[] = [
    { type: 'ShipmentRegistered', data: { origin: 'A' } },
    { type: 'TruckAssigned', data: { truckId: 'T1', previousTruckId: null } },
    { type: 'ShipmentShipped', data: { truckId: 'T1' } },
  ]
  const snapshot = replay(events)
  t.equal(stateOf(snapshot), 'shipped')
  t.equal(snapshot.context.truckId, 'T1')
  t.throws(() => evolve(snapshot, { type: 'TruckAssigned', data: { truckId: 'T2', previousTruckId: 'T1' } }), InvalidHistoryError)
  t.throws(() => replay([{ type: 'ShipmentShipped', data: { truckId: 'T1' } }]), InvalidHistoryError, 'shipping before registering is not a path')
})

t.test('persisted snapshots restore to an equivalent snapshot', async (t) => {
  for (const history of Object.values(histories)) {
    const snapshot = given(...(history as ShipmentCommand[]))
    const restored = restore(JSON.parse(JSON.stringify(persist(snapshot))))
    t.equal(stateOf(restored), stateOf(snapshot))
    t.same(restored.context, snapshot.context)
    for (const command of Object.values(commands) as ShipmentCommand[]) {
      const a = decide(snapshot, command)
      const b = decide(restored, command)
      t.same({ outcome: b.outcome, reason: 'reason' in b ? b.reason : null }, { outcome: a.outcome, reason: 'reason' in a ? a.reason : null })
    }
  }
})

t.test('the reused-scope step computes exactly what XState transition() computes (property)', async (t) => {
  const truck = fc.constantFrom('T1', 'T2', 'T3')
  const command = fc.oneof(
    fc.record({ type: fc.constant('REGISTER' as const), origin: fc.option(fc.string({ maxLength: 5 }), { nil: undefined }) }, { requiredKeys: ['type'] }),
    fc.record({ type: fc.constant('ASSIGN' as const), truckId: truck }),
    fc.constant({ type: 'UNASSIGN' as const }),
    fc.constant({ type: 'SHIP' as const }),
    fc.record({ type: fc.constant('DELIVER' as const), receivedBy: fc.option(fc.string({ maxLength: 5 }), { nil: undefined }) }, { requiredKeys: ['type'] }),
    fc.record({ type: fc.constant('CANCEL' as const), reason: fc.option(fc.string({ maxLength: 5 }), { nil: undefined }) }, { requiredKeys: ['type'] }),
  )
  let compared = 0
  fc.assert(
    fc.property(fc.array(command as fc.Arbitrary<ShipmentCommand>, { minLength: 5, maxLength: 30 }), (commands) => {
      let reference = initialSnapshot()
      let fast = initialSnapshot()
      for (const c of commands) {
        const [next] = transition(shipmentMachine, reference, c)
        const mine = step(fast, c)
        if (JSON.stringify([next.value, next.context, next.status]) !== JSON.stringify([mine.value, mine.context, mine.status])) return false
        const decision = decide(fast, c)
        const changed = JSON.stringify([next.value, next.context]) !== JSON.stringify([reference.value, reference.context])
        if ((decision.outcome === 'accepted') !== changed) return false
        reference = next
        fast = mine
        compared++
      }
      return true
    }),
    { numRuns: 3000 },
  )
  t.ok(compared >= 15000, `${compared} steps compared`)
})
