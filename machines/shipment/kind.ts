import type { AggregateKind } from '../kind.js'
import type { ShipmentMachineEvent } from './commands.js'
import { decide, evolve, initialSnapshot, machineVersion, persist, restore, shipmentDecider, type PersistedShipment, type ShipmentSnapshot } from './decider.js'
import type { ShipmentEvent } from './events.js'

/** The shipment as an aggregate kind (see ../kind.ts). Shipment stream ids are the bare shipment ids. */
export const shipmentKind: AggregateKind<ShipmentSnapshot, ShipmentMachineEvent, ShipmentEvent> = {
  name: 'shipment',
  prefix: '',
  machineVersion,
  // Version 2 only added to version 1 (the opened-truck flag, SHIP's guard, DEPART_SHIP): a version 1
  // snapshot is a valid version 2 snapshot, so its checkpoints still bound every history read.
  readsSnapshotsOf: ['1'],
  initial: initialSnapshot,
  decide,
  evolve,
  stateOf: shipmentDecider.stateOf,
  allowed: shipmentDecider.allowed,
  persist,
  restore: (persisted) => restore(persisted as PersistedShipment),
}
