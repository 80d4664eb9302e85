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

export type ShipmentCommand = Register | Assign | Unassign | Ship | Deliver | Cancel
export type CommandType = ShipmentCommand['type']
