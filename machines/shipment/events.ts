import type { CommandType, ShipmentCommand } from './commands.js'

/** Events: what happened, past tense. Only accepted transitions become events. */
export type ShipmentRegistered = {
  readonly type: 'ShipmentRegistered'
  readonly data: { readonly origin?: string; readonly destination?: string }
}
export type TruckAssigned = {
  readonly type: 'TruckAssigned'
  readonly data: { readonly truckId: string; readonly previousTruckId: string | null }
}
export type TruckUnassigned = { readonly type: 'TruckUnassigned'; readonly data: { readonly truckId: string } }
export type ShipmentShipped = { readonly type: 'ShipmentShipped'; readonly data: { readonly truckId: string } }
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
} as const satisfies Record<CommandType, EventType>

export const commandTypeOf = Object.fromEntries(
  Object.entries(eventTypeOf).map(([command, event]) => [event, command]),
) as { readonly [E in EventType]: CommandType }

export const commandTypes = Object.keys(eventTypeOf) as readonly CommandType[]
export const eventTypes = Object.values(eventTypeOf) as readonly EventType[]

/** The command an event was decided from: replay feeds it back through the pure machine. */
export function commandFromEvent(event: ShipmentEvent): ShipmentCommand {
  switch (event.type) {
    case 'ShipmentRegistered':
      return { type: 'REGISTER', ...event.data }
    case 'TruckAssigned':
      return { type: 'ASSIGN', truckId: event.data.truckId }
    case 'TruckUnassigned':
      return { type: 'UNASSIGN' }
    case 'ShipmentShipped':
      return { type: 'SHIP' }
    case 'ShipmentDelivered':
      return { type: 'DELIVER', ...event.data }
    case 'ShipmentCancelled':
      return { type: 'CANCEL', ...event.data }
  }
}

/** The event an accepted command produces; `truckIdBefore` is the truck the shipment was on. */
export function eventFromCommand(command: ShipmentCommand, truckIdBefore: string | null): ShipmentEvent {
  switch (command.type) {
    case 'REGISTER':
      return { type: 'ShipmentRegistered', data: pick({ origin: command.origin, destination: command.destination }) }
    case 'ASSIGN':
      return { type: 'TruckAssigned', data: { truckId: command.truckId, previousTruckId: truckIdBefore } }
    case 'UNASSIGN':
      return { type: 'TruckUnassigned', data: { truckId: truckIdBefore ?? '' } }
    case 'SHIP':
      return { type: 'ShipmentShipped', data: { truckId: truckIdBefore ?? '' } }
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
