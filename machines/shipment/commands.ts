/**
 * Commands: what a scanner asks for. Imperative, a `type` tag and only the payload the rules need.
 * Who/when (device, operator, scan time) travels beside the command as metadata, never inside it.
 */
export type Register = { readonly type: 'REGISTER'; readonly origin?: string; readonly destination?: string }
export type Assign = { readonly type: 'ASSIGN'; readonly truckId: string }
export type Unassign = { readonly type: 'UNASSIGN' }
export type Ship = { readonly type: 'SHIP' }
export type Deliver = { readonly type: 'DELIVER'; readonly receivedBy?: string }
export type Cancel = { readonly type: 'CANCEL'; readonly reason?: string }

/** What scanners send (the HTTP contract). */
export type ShipmentCommand = Register | Assign | Unassign | Ship | Deliver | Cancel
export type CommandType = ShipmentCommand['type']

/**
 * What the machine is sent: a scanner's command, or what the trucks' sagas make of one — an ASSIGN
 * that records whether the truck is an opened one (its place on the truck was granted), and the
 * departure of the opened truck the shipment is on (never sent by a scanner).
 */
export type AssignToTruck = { readonly type: 'ASSIGN'; readonly truckId: string; readonly opened?: boolean }
export type DepartShip = { readonly type: 'DEPART_SHIP'; readonly truckId: string }
export type ShipmentMachineEvent = Register | AssignToTruck | Unassign | Ship | Deliver | Cancel | DepartShip
export type MachineCommandType = ShipmentMachineEvent['type']
