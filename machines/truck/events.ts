import type { TruckCommand, TruckCommandType } from './commands.js'

/** A truck's events: what happened to it, past tense (one per accepted command, mapped below). */
export type TruckOpened = { readonly type: 'TruckOpened'; readonly data: { readonly capacity: number | null; readonly destination?: string } }
export type TruckDeparted = { readonly type: 'TruckDeparted'; readonly data: { readonly manifest: readonly string[] } }
export type TruckReturned = { readonly type: 'TruckReturned'; readonly data: Record<string, never> }
export type ShipmentLoaded = { readonly type: 'ShipmentLoaded'; readonly data: { readonly shipmentId: string; readonly reserved: boolean } }
export type ShipmentUnloaded = { readonly type: 'ShipmentUnloaded'; readonly data: { readonly shipmentId: string } }
export type LoadConfirmed = { readonly type: 'LoadConfirmed'; readonly data: { readonly shipmentId: string } }
export type LoadReleased = { readonly type: 'LoadReleased'; readonly data: { readonly shipmentId: string } }

export type TruckEvent = TruckOpened | TruckDeparted | TruckReturned | ShipmentLoaded | ShipmentUnloaded | LoadConfirmed | LoadReleased
export type TruckEventType = TruckEvent['type']

/** The one mapping table between a truck's commands and the events they record. */
export const truckEventTypeOf = {
  OPEN: 'TruckOpened',
  DEPART: 'TruckDeparted',
  RETURN: 'TruckReturned',
  LOAD: 'ShipmentLoaded',
  UNLOAD: 'ShipmentUnloaded',
  CONFIRM: 'LoadConfirmed',
  RELEASE: 'LoadReleased',
} as const satisfies Record<TruckCommandType, TruckEventType>

export const truckCommandTypes = Object.keys(truckEventTypeOf) as readonly TruckCommandType[]
export const truckEventTypes = Object.values(truckEventTypeOf) as readonly TruckEventType[]

/** The command an event was decided from: replay feeds it back through the pure machine. */
export function truckCommandFromEvent(event: TruckEvent): TruckCommand {
  switch (event.type) {
    case 'TruckOpened':
      return { type: 'OPEN', ...(event.data.capacity === null ? {} : { capacity: event.data.capacity }), ...(event.data.destination === undefined ? {} : { destination: event.data.destination }) }
    case 'TruckDeparted':
      return { type: 'DEPART' }
    case 'TruckReturned':
      return { type: 'RETURN' }
    case 'ShipmentLoaded':
      return { type: 'LOAD', shipmentId: event.data.shipmentId, hold: event.data.reserved }
    case 'ShipmentUnloaded':
      return { type: 'UNLOAD', shipmentId: event.data.shipmentId }
    case 'LoadConfirmed':
      return { type: 'CONFIRM', shipmentId: event.data.shipmentId }
    case 'LoadReleased':
      return { type: 'RELEASE', shipmentId: event.data.shipmentId }
  }
}

/** The event an accepted command records; `manifest` is the truck's load when it leaves. */
export function truckEventFromCommand(command: TruckCommand, manifest: readonly string[]): TruckEvent {
  switch (command.type) {
    case 'OPEN':
      return { type: 'TruckOpened', data: { capacity: command.capacity ?? null, ...(command.destination === undefined ? {} : { destination: command.destination }) } }
    case 'DEPART':
      return { type: 'TruckDeparted', data: { manifest: [...manifest] } }
    case 'RETURN':
      return { type: 'TruckReturned', data: {} }
    case 'LOAD':
      return { type: 'ShipmentLoaded', data: { shipmentId: command.shipmentId, reserved: command.hold } }
    case 'UNLOAD':
      return { type: 'ShipmentUnloaded', data: { shipmentId: command.shipmentId } }
    case 'CONFIRM':
      return { type: 'LoadConfirmed', data: { shipmentId: command.shipmentId } }
    case 'RELEASE':
      return { type: 'LoadReleased', data: { shipmentId: command.shipmentId } }
  }
}
