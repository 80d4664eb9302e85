import type { SnapshotFrom } from 'xstate'
import { createDecider } from '../decider.js'
import { shipmentChart, type StateName } from './chart.js'
import type { CommandType, ShipmentMachineEvent } from './commands.js'
import { commandFromEvent, eventFromCommand, type ShipmentEvent } from './events.js'
import { shipmentMachine, type ShipmentContext } from './machine.js'

/**
 * decide / evolve over the shipment machine with its pure transition function only (machines/decider.ts):
 * no live actor, no action executed, no clock. "Accepted" is an enabled transition that was taken and
 * has a target or changed the context; everything else is a rejection with a stable reason and the
 * `allowed` list.
 */
export type ShipmentSnapshot = SnapshotFrom<typeof shipmentMachine>

/** What a persisted snapshot stores; restored with `machine.resolveState()`. */
export interface PersistedShipment {
  readonly value: ShipmentSnapshot['value']
  readonly context: ShipmentContext
}

export { InvalidHistoryError } from '../decider.js'

export const machineVersion: string = shipmentMachine.version ?? '0'

function describe(reason: string, command: ShipmentMachineEvent, state: string, context: ShipmentContext): string {
  switch (reason) {
    case 'not_found':
      return `cannot ${command.type} a shipment that is not registered`
    case 'already_registered':
      return `the shipment is already registered (it is ${state})`
    case 'same_truck':
      return `the shipment is already assigned to truck ${context.truckId}`
    case 'awaiting_departure':
      return `the shipment is on opened truck ${context.truckId}: it ships when the truck departs`
    default:
      return `cannot ${command.type} a shipment that is ${state}`
  }
}

export const shipmentDecider = createDecider<typeof shipmentMachine, ShipmentMachineEvent, ShipmentEvent>(shipmentMachine, {
  chart: shipmentChart,
  eventFromCommand: (command, before) => eventFromCommand(command, before.truckId),
  commandFromEvent,
  creating: 'REGISTER',
  describe,
  contextGuards: { notOnOpenTruck: (context) => context.onOpenTruck !== true },
})

export const { step, decide, evolve } = shipmentDecider

/** The snapshot of a shipment with no events (state `unregistered`). Snapshots are immutable. */
export const initialSnapshot = (): ShipmentSnapshot => shipmentDecider.initialSnapshot()

/** The atomic state's name: leaf keys are unique across the chart (checked by the chart tests). */
export const stateOf = (snapshot: ShipmentSnapshot): StateName => shipmentDecider.stateOf(snapshot) as StateName

/** The commands a shipment in `state` may be sent (guards aside), in the machine's command order. */
export const allowedIn = (state: StateName): readonly CommandType[] => shipmentDecider.allowedIn(state) as readonly CommandType[]

/** The commands this shipment may be sent now (SHIP is not, on an opened truck: it leaves with it). */
export const allowedNow = (snapshot: ShipmentSnapshot): readonly CommandType[] => shipmentDecider.allowed(snapshot) as readonly CommandType[]

/** The same, from the facts a read model keeps (its state, and whether it is on an opened truck). */
export const allowedFor = (state: StateName, onOpenTruck: boolean): readonly CommandType[] => shipmentDecider.allowedFor(state, { onOpenTruck }) as readonly CommandType[]

export function replay(events: Iterable<ShipmentEvent>, from: ShipmentSnapshot = initialSnapshot()): ShipmentSnapshot {
  let snapshot = from
  for (const event of events) snapshot = evolve(snapshot, event)
  return snapshot
}

export function persist(snapshot: ShipmentSnapshot): PersistedShipment {
  return { value: snapshot.value, context: snapshot.context }
}

export function restore(persisted: PersistedShipment): ShipmentSnapshot {
  return shipmentDecider.restore(persisted)
}
