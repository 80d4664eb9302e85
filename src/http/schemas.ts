import { Type, type Static, type TSchema } from 'typebox'
import { commandTypes, eventTypes, shipmentStates, type CommandType, type EventType, type ShipmentCommand, type StateName as StateNameType } from '../../machines/shipment/index.js'

/**
 * The HTTP contract (API.md) as TypeBox schemas: each validates at runtime (Ajv) and is the static type
 * of the handler's input. The command and event type lists come from the machine.
 */
export const identifierPattern = '^[A-Za-z0-9._-]{1,64}$'
export const Identifier = Type.String({ pattern: identifierPattern, minLength: 1, maxLength: 64, description: '1–64 characters of [A-Za-z0-9._-]' })
const FreeText = Type.String({ minLength: 1, maxLength: 200 })
const Timestamp = Type.String({ format: 'date-time', description: 'ISO 8601' })

export const ShipmentParams = Type.Object({ shipmentId: Identifier }, { additionalProperties: false })
export const CommandParams = Type.Object({ commandId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' }) }, { additionalProperties: false })

/** Every command body may carry who scanned it and when (metadata, not part of the command). */
const scanMetadata = {
  scannedAt: Type.Optional(Type.String({ ...Timestamp, description: 'the device clock at the scan' })),
  operatorId: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'who operated the scanner' })),
}

const Register = Type.Object(
  { type: Type.Literal('REGISTER'), origin: Type.Optional(FreeText), destination: Type.Optional(FreeText), ...scanMetadata },
  { additionalProperties: false, title: 'REGISTER' },
)
const Assign = Type.Object({ type: Type.Literal('ASSIGN'), truckId: Identifier, ...scanMetadata }, { additionalProperties: false, title: 'ASSIGN' })
const Unassign = Type.Object({ type: Type.Literal('UNASSIGN'), ...scanMetadata }, { additionalProperties: false, title: 'UNASSIGN' })
const Ship = Type.Object({ type: Type.Literal('SHIP'), ...scanMetadata }, { additionalProperties: false, title: 'SHIP' })
const Deliver = Type.Object({ type: Type.Literal('DELIVER'), receivedBy: Type.Optional(FreeText), ...scanMetadata }, { additionalProperties: false, title: 'DELIVER' })
const Cancel = Type.Object({ type: Type.Literal('CANCEL'), reason: Type.Optional(FreeText), ...scanMetadata }, { additionalProperties: false, title: 'CANCEL' })

const commandVariants = [Register, Assign, Unassign, Ship, Deliver, Cancel] as const
const CommandUnion = Type.Union([Register, Assign, Unassign, Ship, Deliver, Cancel])
/**
 * Discriminated on `type` (Ajv `discriminator`), so an error names the field of the chosen command
 * instead of six failed alternatives. Same static type as the plain union.
 */
export const CommandBody = {
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string', enum: [...commandTypes] } },
  discriminator: { propertyName: 'type' },
  oneOf: commandVariants,
} as unknown as typeof CommandUnion
export type CommandBody = Static<typeof CommandUnion>

// Compile-time check: the HTTP bodies and the machine's commands have the same types and the same
// fields per type (optional fields included), so neither can drift from the other.
type Payload<T> = T extends unknown ? Omit<T, 'scannedAt' | 'operatorId'> : never
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false
type PerType = {
  [T in ShipmentCommand['type']]: SameKeys<Extract<Payload<CommandBody>, { type: T }>, Extract<ShipmentCommand, { type: T }>>
}[ShipmentCommand['type']]
type Assignable = [Payload<CommandBody>] extends [ShipmentCommand] ? ([ShipmentCommand] extends [Payload<CommandBody>] ? true : false) : false
type SameCommands = false extends PerType | Assignable ? false : true
const sameCommands: SameCommands = true
void sameCommands


export const CommandHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ pattern: '^[\\x21-\\x7E]{1,255}$', description: '1–255 visible ASCII characters' })),
  prefer: Type.Optional(Type.String({ maxLength: 200 })),
})

/** A string enum whose static type is the machine's literal union. */
function oneOfStrings<T extends string>(values: readonly T[], description: string) {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], description })
}
const StateName = oneOfStrings<StateNameType>(shipmentStates, 'state of the shipment machine')
const CommandTypeName = oneOfStrings<CommandType>(commandTypes, 'command type')
const EventTypeName = oneOfStrings<EventType>(eventTypes, 'event type')

export const Shipment = Type.Object(
  {
    shipmentId: Type.String(),
    state: StateName,
    version: Type.Integer(),
    truckId: Type.Union([Type.String(), Type.Null()]),
    origin: Type.Optional(Type.String()),
    destination: Type.Optional(Type.String()),
    registeredAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
    allowed: Type.Array(CommandTypeName),
  },
  { title: 'Shipment' },
)

export const EventSummary = Type.Object({
  type: EventTypeName,
  version: Type.Integer(),
  position: Type.Integer(),
  recordedAt: Type.String({ format: 'date-time' }),
})

export const CommandResult = Type.Object({
  commandId: Type.String(),
  outcome: Type.Literal('accepted'),
  shipment: Shipment,
  event: EventSummary,
})

export const Queued = Type.Object({ commandId: Type.String(), outcome: Type.Literal('queued') })

export const EventMetadata = Type.Object(
  {
    commandId: Type.String(),
    deviceId: Type.Optional(Type.String()),
    operatorId: Type.Optional(Type.String()),
    scannedAt: Type.Optional(Type.String()),
    requestId: Type.Optional(Type.String()),
    receivedAt: Type.Optional(Type.String()),
    machineVersion: Type.String(),
  },
  { additionalProperties: true },
)

export const Event = Type.Object({
  position: Type.Integer(),
  shipmentId: Type.String(),
  version: Type.Integer(),
  type: EventTypeName,
  data: Type.Record(Type.String(), Type.Unknown()),
  metadata: EventMetadata,
  recordedAt: Type.String({ format: 'date-time' }),
})

export const ShipmentEvents = Type.Object({ shipmentId: Type.String(), events: Type.Array(Event) })
export const Feed = Type.Object({ events: Type.Array(Event), last: Type.Integer() })

export const ShipmentQuery = Type.Object(
  {
    version: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
    at: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
)

export const ListQuery = Type.Object(
  {
    state: Type.Optional(StateName),
    truckId: Type.Optional(Identifier),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
    cursor: Type.Optional(Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' })),
  },
  { additionalProperties: false },
)
export const ShipmentPage = Type.Object({ items: Type.Array(Shipment), next: Type.Union([Type.String(), Type.Null()]) })

export const FeedQuery = Type.Object(
  {
    after: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 }),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  },
  { additionalProperties: false },
)

export const CommandStatus = Type.Object({
  commandId: Type.String(),
  shipmentId: Type.String(),
  type: CommandTypeName,
  outcome: Type.Union([Type.Literal('queued'), Type.Literal('accepted'), Type.Literal('rejected')]),
  reason: Type.Optional(Type.String()),
  detail: Type.Optional(Type.String()),
  event: Type.Optional(EventSummary),
  receivedAt: Type.String({ format: 'date-time' }),
  decidedAt: Type.Optional(Type.String({ format: 'date-time' })),
})

/** RFC 9457 problem details; extension members are allowed (and documented per route). */
export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    commandId: Type.Optional(Type.String()),
    outcome: Type.Optional(Type.Literal('rejected')),
    reason: Type.Optional(Type.String()),
    shipment: Type.Optional(Shipment),
    allowed: Type.Optional(Type.Array(CommandTypeName)),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { additionalProperties: true, title: 'Problem' },
)

/** Problem responses for the given statuses, for a route's `response` map. */
export function problems<const S extends readonly number[]>(...statuses: S): { [K in S[number]]: typeof Problem } {
  return Object.fromEntries(statuses.map((s) => [s, Problem])) as { [K in S[number]]: typeof Problem }
}

export type { TSchema }
