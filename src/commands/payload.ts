import type { Static } from 'typebox'
import type { ShipmentCommand } from '../../machines/shipment/index.js'
import type { InboxCommand } from '../store/types.js'
import { CommandPayload, ShipmentMessagePayload, TruckCommandPayload, TruckMessagePayload, type ShipmentMessage, type TruckMessage } from './schemas.js'
import { schemaCheck } from './validation.js'

/**
 * The inbox → machine boundary. A payload read back from the `commands` table becomes a command of
 * its kind only by passing the same TypeBox schema the HTTP body was validated with (minus the scan
 * metadata, which is stored beside it), never by a cast: a row written by another version, a hand
 * edit or a damaged file is refused here and its stream parked, instead of a machine deciding on
 * fields that are not there.
 */
const shipmentPayload = schemaCheck(CommandPayload)
const shipmentMessage = schemaCheck(ShipmentMessagePayload)
const truckPayload = schemaCheck(TruckCommandPayload)
const truckMessage = schemaCheck(TruckMessagePayload)

export class InvalidStoredCommandError extends Error {
  override readonly name = 'InvalidStoredCommandError'
  constructor(
    readonly commandId: string,
    readonly streamId: string,
    why: string,
  ) {
    super(`command ${commandId} of ${streamId}: the stored payload is not a command (${why})`)
  }
}

type Stored = Pick<InboxCommand, 'commandId' | 'streamId' | 'type' | 'payload' | 'metadata'>

/** Checks a stored payload against the scanners' schema, or (a message) the messages' schema. */
function checked<A, B>(command: Stored, scanner: { check(v: unknown): v is A; errors(): string }, message: { check(v: unknown): v is B; errors(): string }): A | B {
  const value: unknown = command.payload
  const schema = command.metadata.origin === 'saga' ? message : scanner
  if (!schema.check(value)) throw new InvalidStoredCommandError(command.commandId, command.streamId, schema.errors())
  const type = (value as { type: string }).type
  if (type !== command.type) throw new InvalidStoredCommandError(command.commandId, command.streamId, `type column ${command.type}, payload ${type}`)
  return value
}

/** A shipment's command (a scanner's, or a message from its truck) read back from the inbox, checked. */
export function storedShipmentCommand(command: Stored): ShipmentCommand | ShipmentMessage {
  return checked(command, shipmentPayload, shipmentMessage)
}

/** A truck's command (a scanner's, or a message from a shipment's saga) read back from the inbox, checked. */
export function storedTruckCommand(command: Stored): Static<typeof TruckCommandPayload> | TruckMessage {
  return checked(command, truckPayload, truckMessage)
}

