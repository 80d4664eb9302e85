/**
 * Commands to a truck. A scanner opens a truck at a dock (OPEN), sends it away (DEPART) and takes it
 * back (RETURN). The others are messages from its shipments' sagas, never from a scanner: a shipment
 * asks for a place (LOAD; `hold`: a reservation while it leaves another truck), gives it up (UNLOAD),
 * and settles a reservation (CONFIRM, RELEASE).
 */
export type Open = { readonly type: 'OPEN'; readonly capacity?: number; readonly destination?: string }
export type Depart = { readonly type: 'DEPART' }
export type Return = { readonly type: 'RETURN' }
export type Load = { readonly type: 'LOAD'; readonly shipmentId: string; readonly hold: boolean }
export type Unload = { readonly type: 'UNLOAD'; readonly shipmentId: string }
export type Confirm = { readonly type: 'CONFIRM'; readonly shipmentId: string }
export type Release = { readonly type: 'RELEASE'; readonly shipmentId: string }

export type TruckCommand = Open | Depart | Return | Load | Unload | Confirm | Release
export type TruckCommandType = TruckCommand['type']

/** What scanners may send (the HTTP contract); the rest are messages between actors. */
export const truckClientCommands = ['OPEN', 'DEPART', 'RETURN'] as const satisfies readonly TruckCommandType[]
export const truckMessages = ['LOAD', 'UNLOAD', 'CONFIRM', 'RELEASE'] as const satisfies readonly TruckCommandType[]
export type TruckClientCommandType = (typeof truckClientCommands)[number]
