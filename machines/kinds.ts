import type { AggregateKind } from './kind.js'
import { commandTypes, eventTypes, shipmentKind, type CommandType, type EventType } from './shipment/index.js'
import { truckClientCommands, truckEventTypes, truckKind, type TruckClientCommandType, type TruckEventType } from './truck/index.js'

/**
 * Every aggregate kind, and which kind a stream id belongs to: a prefix (`truck:`) names the kind,
 * no prefix is a shipment (the ids of v1, unchanged).
 */
export const kinds = { shipment: shipmentKind, truck: truckKind } as const satisfies Record<string, AggregateKind<any, any, any>>

export type KindName = keyof typeof kinds

const prefixed = Object.values(kinds).filter((k) => k.prefix !== '') as AggregateKind<any, any, any>[]

export function kindOfStream(streamId: string): AggregateKind<any, any, any> {
  for (const kind of prefixed) if (streamId.startsWith(kind.prefix)) return kind
  return shipmentKind
}

/** The aggregate's own id (`T1` for `truck:T1`). */
export function idOfStream(streamId: string): string {
  return streamId.slice(kindOfStream(streamId).prefix.length)
}

/** A truck's stream id. */
export const truckStream = (truckId: string): string => `${truckKind.prefix}${truckId}`

/** Every command type scanners send and every event type of every kind (the HTTP contract's enums). */
export type AnyCommandType = CommandType | TruckClientCommandType
export type AnyEventType = EventType | TruckEventType
export const anyCommandTypes: readonly AnyCommandType[] = [...commandTypes, ...truckClientCommands]
export const anyEventTypes: readonly AnyEventType[] = [...eventTypes, ...truckEventTypes]

/** The messages actors send each other (in the inbox beside scanners' commands, never from a scanner). */
export const messageTypes = ['LOAD', 'UNLOAD', 'CONFIRM', 'RELEASE', 'DEPART_NOW', 'TRUCK_REPLY', 'DEPART_SHIP'] as const
export type MessageType = (typeof messageTypes)[number]
/** Any type an inbox row may have. */
export type InboxType = AnyCommandType | MessageType
const commandTypeSet: ReadonlySet<string> = new Set([...anyCommandTypes, ...messageTypes])
const eventTypeSet: ReadonlySet<string> = new Set(anyEventTypes)

export function isInboxType(type: string): type is InboxType {
  return commandTypeSet.has(type)
}

export function isAnyCommandType(type: string): type is AnyCommandType {
  return (anyCommandTypes as readonly string[]).includes(type)
}

export function isAnyEventType(type: string): type is AnyEventType {
  return eventTypeSet.has(type)
}
