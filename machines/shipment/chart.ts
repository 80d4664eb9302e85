import { ancestorsAndSelf, buildChart, type Chart as GenericChart, type ChartTransition as GenericTransition } from '../chart.js'
import type { MachineCommandType } from './commands.js'
import { eventTypeOf, type EventType } from './events.js'
import { shipmentMachine } from './machine.js'

/**
 * The shipment's chart as data (machines/chart.ts reads it from the XState definition): the review
 * page, the docs, the `allowed` lists and the projections' "state after event" all come from here.
 */
export type StateName = 'unregistered' | 'registered' | 'assigned' | 'shipped' | 'delivered' | 'cancelled'

export type { ChartState } from '../chart.js'
export type ChartTransition = GenericTransition<MachineCommandType, EventType>
export type Chart = GenericChart<MachineCommandType, EventType>

export const shipmentChart: Chart = buildChart(shipmentMachine, eventTypeOf, ['DEPART_SHIP'])

export const stateNames: ReadonlySet<StateName> = new Set(shipmentChart.states.filter((s) => s.type !== 'compound').map((s) => s.id as StateName))

/** Atomic states a shipment can be in once it exists (everything but the initial `unregistered`). */
export const shipmentStates: readonly StateName[] = [...stateNames].filter((s) => s !== shipmentChart.initial)

/** The chart transition a command takes from an atomic state (declared on it or on an ancestor). */
export function transitionFrom(state: StateName, command: MachineCommandType): ChartTransition | undefined {
  for (const from of ancestorsAndSelf(shipmentChart, state)) {
    const found = shipmentChart.transitions.find((t) => t.from === from && t.command === command)
    if (found) return found
  }
  return undefined
}

/** Final states: a shipment there never moves again (no dwell time, never "stuck"). */
export const finalStates: ReadonlySet<StateName> = new Set(shipmentChart.states.filter((s) => s.type === 'final').map((s) => s.id as StateName))

/** The atomic state every event type leads to (unique per event type; checked by the chart tests). */
export const stateAfterEvent: Readonly<Record<EventType, StateName>> = Object.freeze(
  Object.fromEntries(shipmentChart.transitions.map((t) => [t.event, t.enters])) as Record<EventType, StateName>,
)
