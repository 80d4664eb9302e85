import { Type, type Static } from 'typebox'
import { commandTypes, type ShipmentCommand } from '../../machines/shipment/index.js'

/**
 * The commands scanners send, as TypeBox schemas: each validates at runtime (Ajv) and is the static
 * type. The HTTP routes validate bodies with them; the decision layer checks every stored payload
 * against the same `CommandPayload` before a machine sees it (payload.ts). The type lists come from
 * the machines.
 */
/** `.` and `..` are refused: as path segments, browsers and most HTTP clients resolve them away. */
export const identifierPattern = '^(?!\\.\\.?$)[A-Za-z0-9._-]{1,64}$'
export const Identifier = Type.String({ pattern: identifierPattern, minLength: 1, maxLength: 64, description: '1–64 characters of [A-Za-z0-9._-], not `.` or `..`' })
export const FreeText = Type.String({ minLength: 1, maxLength: 200 })
export const Timestamp = Type.String({ format: 'date-time', description: 'ISO 8601' })

/** Every command body may carry who scanned it and when (metadata, not part of the command). */
export const scanMetadata = {
  scannedAt: Type.Optional(Type.String({ ...Timestamp, description: 'the device clock at the scan' })),
  operatorId: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'who operated the scanner' })),
}

/**
 * The commands as the inbox stores them and the machine takes them: a body without its scan metadata.
 * The HTTP bodies below are these same fields plus `scanMetadata`, and the worker checks every stored
 * payload against `CommandPayload` before the machine sees it (src/commands/payload.ts).
 */
const registerFields = { type: Type.Literal('REGISTER'), origin: Type.Optional(FreeText), destination: Type.Optional(FreeText) }
const assignFields = { type: Type.Literal('ASSIGN'), truckId: Identifier }
const unassignFields = { type: Type.Literal('UNASSIGN') }
const shipFields = { type: Type.Literal('SHIP') }
const deliverFields = { type: Type.Literal('DELIVER'), receivedBy: Type.Optional(FreeText) }
const cancelFields = { type: Type.Literal('CANCEL'), reason: Type.Optional(FreeText) }

export const CommandPayload = Type.Union([
  Type.Object(registerFields, { additionalProperties: false, title: 'RegisterPayload' }),
  Type.Object(assignFields, { additionalProperties: false, title: 'AssignPayload' }),
  Type.Object(unassignFields, { additionalProperties: false, title: 'UnassignPayload' }),
  Type.Object(shipFields, { additionalProperties: false, title: 'ShipPayload' }),
  Type.Object(deliverFields, { additionalProperties: false, title: 'DeliverPayload' }),
  Type.Object(cancelFields, { additionalProperties: false, title: 'CancelPayload' }),
])

const Register = Type.Object({ ...registerFields, ...scanMetadata }, { additionalProperties: false, title: 'RegisterCommand' })
const Assign = Type.Object({ ...assignFields, ...scanMetadata }, { additionalProperties: false, title: 'AssignCommand' })
const Unassign = Type.Object({ ...unassignFields, ...scanMetadata }, { additionalProperties: false, title: 'UnassignCommand' })
const Ship = Type.Object({ ...shipFields, ...scanMetadata }, { additionalProperties: false, title: 'ShipCommand' })
const Deliver = Type.Object({ ...deliverFields, ...scanMetadata }, { additionalProperties: false, title: 'DeliverCommand' })
const Cancel = Type.Object({ ...cancelFields, ...scanMetadata }, { additionalProperties: false, title: 'CancelCommand' })

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

// Compile-time check: the HTTP bodies, the stored payloads and the machine's commands have the same
// types and the same fields per type (optional fields included), so none can drift from the others.
type Payload<T> = T extends unknown ? Omit<T, 'scannedAt' | 'operatorId'> : never
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false
type SameCommandsAs<P> = false extends
  | { [T in ShipmentCommand['type']]: SameKeys<Extract<P, { type: T }>, Extract<ShipmentCommand, { type: T }>> }[ShipmentCommand['type']]
  | ([P] extends [ShipmentCommand] ? ([ShipmentCommand] extends [P] ? true : false) : false)
  ? false
  : true
const sameCommands: SameCommandsAs<Payload<CommandBody>> & SameCommandsAs<Static<typeof CommandPayload>> = true
void sameCommands



/**
 * A truck's commands from scanners (docs/api.md *Trucks*): OPEN at a dock with an optional capacity
 * and destination, DEPART, RETURN. Same conventions as a shipment's (scan metadata beside them).
 */
const openFields = {
  type: Type.Literal('OPEN'),
  capacity: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, description: 'most shipments on it at once (absent: no limit)' })),
  destination: Type.Optional(FreeText),
}
const departFields = { type: Type.Literal('DEPART') }
const returnFields = { type: Type.Literal('RETURN') }

export const TruckCommandPayload = Type.Union([
  Type.Object(openFields, { additionalProperties: false, title: 'OpenPayload' }),
  Type.Object(departFields, { additionalProperties: false, title: 'DepartPayload' }),
  Type.Object(returnFields, { additionalProperties: false, title: 'ReturnPayload' }),
])

const Open = Type.Object({ ...openFields, ...scanMetadata }, { additionalProperties: false, title: 'OpenCommand' })
const Depart = Type.Object({ ...departFields, ...scanMetadata }, { additionalProperties: false, title: 'DepartCommand' })
const Return = Type.Object({ ...returnFields, ...scanMetadata }, { additionalProperties: false, title: 'ReturnCommand' })
const TruckCommandUnion = Type.Union([Open, Depart, Return])
export const TruckCommandBody = {
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string', enum: ['OPEN', 'DEPART', 'RETURN'] } },
  discriminator: { propertyName: 'type' },
  oneOf: [Open, Depart, Return],
} as unknown as typeof TruckCommandUnion
export type TruckCommandBody = Static<typeof TruckCommandUnion>

/**
 * Messages between actors, as the inbox stores them (never accepted from HTTP): checked like any
 * stored payload before a machine sees them. `replyTo`/`to`: the shipment command a saga waits on.
 */
const ShipmentIdField = Identifier
export const TruckMessagePayload = Type.Union([
  Type.Object({ type: Type.Literal('LOAD'), shipmentId: ShipmentIdField, hold: Type.Boolean(), replyTo: Type.String() }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('UNLOAD'), shipmentId: ShipmentIdField, replyTo: Type.String() }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('CONFIRM'), shipmentId: ShipmentIdField }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('RELEASE'), shipmentId: ShipmentIdField }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('DEPART_NOW') }, { additionalProperties: false }),
])
export type TruckMessage = Static<typeof TruckMessagePayload>

export const ShipmentMessagePayload = Type.Union([
  Type.Object(
    {
      type: Type.Literal('TRUCK_REPLY'),
      truckId: Identifier,
      to: Type.String(),
      step: Type.Union([Type.Literal('load'), Type.Literal('unload')]),
      outcome: Type.Union([Type.Literal('accepted'), Type.Literal('rejected')]),
      reason: Type.Optional(Type.String()),
    },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal('DEPART_SHIP'), truckId: Identifier }, { additionalProperties: false }),
])
export type ShipmentMessage = Static<typeof ShipmentMessagePayload>
