import { createHash } from 'node:crypto'
import t from 'tap'
import {
  allowedIn,
  commandTypes,
  eventTypeOf,
  eventTypes,
  machineVersion,
  shipmentChart,
  shipmentMachine,
  shipmentStates,
  stateAfterEvent,
  type StateName,
} from '../../../machines/shipment/index.js'
import type { AnyStateNode } from 'xstate'
import { allowedByState } from './rules.js'

function walk(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states).flatMap((child) => walk(child as AnyStateNode))]
}

t.test('every state node of the machine appears in the chart, with its nesting', async (t) => {
  const nodes = walk(shipmentMachine.root).slice(1)
  t.equal(shipmentChart.states.length, nodes.length)
  for (const node of nodes) {
    const state = shipmentChart.states.find((s) => s.id === node.key)
    t.ok(state, `state ${node.key}`)
    t.equal(state?.parent ?? null, node.parent === shipmentMachine.root ? null : node.parent!.key)
  }
  t.equal(new Set(nodes.map((n) => n.key)).size, nodes.length, 'state keys are unique, so a key names a state')
  t.match(shipmentChart.states.find((s) => s.id === 'atDepot'), { type: 'compound', initial: 'registered' })
  t.equal(shipmentChart.initial, 'unregistered')
  t.equal(shipmentChart.version, machineVersion)
})

t.test('every transition of the machine appears once, with command and event', async (t) => {
  const defined = walk(shipmentMachine.root).flatMap((node) => [...node.transitions.entries()].flatMap(([command, list]) => list.map(() => `${node.key}:${command}`)))
  t.same(shipmentChart.transitions.map((tr) => tr.id).sort(), defined.sort())
  for (const transition of shipmentChart.transitions) t.equal(transition.event, eventTypeOf[transition.command])
  t.match(shipmentChart.transitions.find((tr) => tr.id === 'assigned:ASSIGN'), { guard: 'isAnotherTruck', rejection: 'same_truck', to: 'assigned' })
  t.match(shipmentChart.transitions.find((tr) => tr.id === 'atDepot:CANCEL'), { from: 'atDepot', to: 'cancelled' })
  t.match(shipmentChart.transitions.find((tr) => tr.id === 'unregistered:REGISTER'), { to: 'atDepot', enters: 'registered' })
})

t.test('each event type leads to exactly one state (projections rely on it)', async (t) => {
  for (const event of eventTypes) {
    const targets = new Set(shipmentChart.transitions.filter((tr) => tr.event === event).map((tr) => tr.enters))
    t.equal(targets.size, 1, event)
    t.equal(stateAfterEvent[event], [...targets][0])
  }
})

t.test('allowed lists follow from the chart, parents included', async (t) => {
  for (const [state, allowed] of Object.entries(allowedByState)) t.same(allowedIn(state as StateName), allowed, state)
  t.same(shipmentStates, ['registered', 'assigned', 'shipped', 'delivered', 'cancelled'])
  t.same(shipmentChart.commands, commandTypes)
})

t.test('the machine version changes with the machine (fingerprint)', async (t) => {
  // If this fails you changed the statechart: bump `version` in machine.ts (persisted snapshots of the
  // old version are then ignored and streams replayed), and update the fingerprint below.
  const fingerprint = JSON.stringify({ states: shipmentChart.states, transitions: shipmentChart.transitions.map(({ description: _d, ...rest }) => rest) })
  t.same(
    { version: machineVersion, fingerprint: createHash('sha256').update(fingerprint).digest('hex').slice(0, 16) },
    { version: '2', fingerprint: '59210ff7a7d916ca' },
  )
})
