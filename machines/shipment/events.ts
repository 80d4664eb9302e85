import type { CommandType, MachineCommandType, ShipmentMachineEvent } from './commands.js'

/** Events: what happened, past tense. Only accepted transitions become events. */
export type ShipmentRegistered = {
  readonly type: 'ShipmentRegistered'
  readonly data: { readonly origin?: string; readonly destination?: string }
}
/** `opened`: the truck is an opened one and gave the shipment its place (absent: a truck id only). */
export type TruckAssigned = {
  readonly type: 'TruckAssigned'
  readonly data: { readonly truckId: string; readonly previousTruckId: string | null; readonly opened?: true }
}
export type TruckUnassigned = { readonly type: 'TruckUnassigned'; readonly data: { readonly truckId: string } }
/** `byDeparture`: shipped by its opened truck's departure (absent: a scanner's SHIP). */
export type ShipmentShipped = { readonly type: 'ShipmentShipped'; readonly data: { readonly truckId: string; readonly byDeparture?: true } }
export type ShipmentDelivered = { readonly type: 'ShipmentDelivered'; readonly data: { readonly receivedBy?: string } }
export type ShipmentCancelled = { readonly type: 'ShipmentCancelled'; readonly data: { readonly reason?: string } }

export type ShipmentEvent =
  | ShipmentRegistered
  | TruckAssigned
  | TruckUnassigned
  | ShipmentShipped
  | ShipmentDelivered
  | ShipmentCancelled
export type EventType = ShipmentEvent['type']

/** The one mapping table between commands (imperative) and the events they produce (past tense). */
export const eventTypeOf = {
  REGISTER: 'ShipmentRegistered',
  ASSIGN: 'TruckAssigned',
  UNASSIGN: 'TruckUnassigned',
  SHIP: 'ShipmentShipped',
  DELIVER: 'ShipmentDelivered',
  CANCEL: 'ShipmentCancelled',
  DEPART_SHIP: 'ShipmentShipped',
} as const satisfies Record<MachineCommandType, EventType>

/** Scanners' command types, in the machine's order (the contract's enum). */
export const commandTypes = ['REGISTER', 'ASSIGN', 'UNASSIGN', 'SHIP', 'DELIVER', 'CANCEL'] as const satisfies readonly CommandType[]
export const eventTypes = [...new Set(Object.values(eventTypeOf))] as readonly EventType[]

const eventTypeSet: ReadonlySet<string> = new Set(eventTypes)

/** Narrows a stored type name to the machine's event types. */
export function isEventType(type: string): type is EventType {
  return eventTypeSet.has(type)
}

/** The command an event was decided from: replay feeds it back through the pure machine. */
export function commandFromEvent(event: ShipmentEvent): ShipmentMachineEvent {
  switch (event.type) {
    case 'ShipmentRegistered':
      return { type: 'REGISTER', ...event.data }
    case 'TruckAssigned':
      return { type: 'ASSIGN', truckId: event.data.truckId, ...(event.data.opened ? { opened: true } : {}) }
    case 'TruckUnassigned':
      return { type: 'UNASSIGN' }
    case 'ShipmentShipped':
      return event.data.byDeparture ? { type: 'DEPART_SHIP', truckId: event.data.truckId } : { type: 'SHIP' }
    case 'ShipmentDelivered':
      return { type: 'DELIVER', ...event.data }
    case 'ShipmentCancelled':
      return { type: 'CANCEL', ...event.data }
  }
}

/** The event an accepted command produces; `truckIdBefore` is the truck the shipment was on. */
export function eventFromCommand(command: ShipmentMachineEvent, truckIdBefore: string | null): ShipmentEvent {
  switch (command.type) {
    case 'REGISTER':
      return { type: 'ShipmentRegistered', data: pick({ origin: command.origin, destination: command.destination }) }
    case 'ASSIGN':
      return { type: 'TruckAssigned', data: { truckId: command.truckId, previousTruckId: truckIdBefore, ...(command.opened ? { opened: true as const } : {}) } }
    case 'UNASSIGN':
      return { type: 'TruckUnassigned', data: { truckId: truckIdBefore ?? '' } }
    case 'SHIP':
      return { type: 'ShipmentShipped', data: { truckId: truckIdBefore ?? '' } }
    case 'DEPART_SHIP':
      return { type: 'ShipmentShipped', data: { truckId: command.truckId, byDeparture: true } }
    case 'DELIVER':
      return { type: 'ShipmentDelivered', data: pick({ receivedBy: command.receivedBy }) }
    case 'CANCEL':
      return { type: 'ShipmentCancelled', data: pick({ reason: command.reason }) }
  }
}

/** Drops absent optional fields so that events are stored without `undefined` keys. */
function pick<T extends Record<string, string | undefined>>(fields: T): { [K in keyof T]?: string } {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) out[key] = value
  return out as { [K in keyof T]?: string }
}
