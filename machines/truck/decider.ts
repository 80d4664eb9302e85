import { buildChart } from '../chart.js'
import { createDecider } from '../decider.js'
import type { AggregateKind } from '../kind.js'
import { truckMessages, type TruckClientCommandType, type TruckCommand } from './commands.js'
import { truckCommandFromEvent, truckEventFromCommand, truckEventTypeOf, type TruckEvent } from './events.js'
import { truckMachine, type TruckContext } from './machine.js'
import type { SnapshotFrom } from 'xstate'

/** The truck's chart as data (served at `GET /machines/truck`, drawn on the process map). */
export const truckChart = buildChart(truckMachine, truckEventTypeOf, truckMessages)

export type TruckSnapshot = SnapshotFrom<typeof truckMachine>
export const truckMachineVersion: string = truckMachine.version ?? '0'

function describe(reason: string, command: TruckCommand, state: string, context: TruckContext): string {
  switch (reason) {
    case 'not_found':
      return `cannot ${command.type} a truck that was not opened`
    case 'already_registered':
      return `the truck is already open (it is ${state})`
    case 'truck_full':
      return `the truck is full (${context.manifest.length + context.reserved.length} of ${context.capacity})`
    case 'truck_departed':
      return 'the truck has departed'
    case 'reservations_open':
      return `${context.reserved.length} place(s) are held for shipments leaving another truck`
    default:
      return `cannot ${command.type} a truck that is ${state}`
  }
}

export const truckDecider = createDecider<typeof truckMachine, TruckCommand, TruckEvent>(truckMachine, {
  chart: truckChart,
  eventFromCommand: (command, before) => truckEventFromCommand(command, before.manifest),
  commandFromEvent: truckCommandFromEvent,
  creating: 'OPEN',
  describe,
  contextGuards: { noReservations: (context) => context.reserved.length === 0 },
})

/** The truck as an aggregate kind (see ../kind.ts). Its streams are `truck:<truckId>`. */
export const truckKind: AggregateKind<TruckSnapshot, TruckCommand, TruckEvent> = {
  name: 'truck',
  prefix: 'truck:',
  machineVersion: truckMachineVersion,
  initial: truckDecider.initialSnapshot,
  decide: truckDecider.decide,
  evolve: truckDecider.evolve,
  stateOf: truckDecider.stateOf,
  allowed: truckDecider.allowed,
  persist: truckDecider.persist,
  restore: (persisted) => truckDecider.restore(persisted as { value: unknown; context: unknown }),
}

/** The commands scanners may send a truck now (its chart's order); DEPART not while places are held. */
export const truckAllowed = (snapshot: TruckSnapshot): readonly TruckClientCommandType[] => truckDecider.allowed(snapshot) as readonly TruckClientCommandType[]
/** The same from a read model's facts (what a scanner may send does not depend on past departures). */
export const truckAllowedFor = (state: string, context: Omit<TruckContext, 'departures'>): readonly TruckClientCommandType[] => truckDecider.allowedFor(state, context) as readonly TruckClientCommandType[]
