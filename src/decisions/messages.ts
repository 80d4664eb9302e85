import { truckStream } from '../../machines/kinds.js'
import type { ShipmentMessage, TruckMessage } from '../commands/schemas.js'
import { sagaFaults } from '../faults.js'
import type { CommandMetadata, NewCommand } from '../store/types.js'
import type { StepContext } from './step.js'

/**
 * Messages between actors, as inbox rows: written in the sender's decision transaction (its outbox
 * is the receiver's inbox), decided by the receiver's owner in arrival order, exactly once (the id
 * comes from the cause: projections/sagas.ts). `bypass`: a message the receiver decides even while
 * it waits for a saga of its own (an answer it waits for, or a request it can always answer).
 */
export interface Cause {
  readonly commandId: string
  readonly metadata: CommandMetadata
}

function message(id: string, streamId: string, payload: ShipmentMessage | TruckMessage, cause: Cause, context: StepContext, bypass: boolean): NewCommand {
  const { deviceId, operatorId } = cause.metadata
  return {
    commandId: sagaFaults.nonIdempotent ? madeAgain(id) : id,
    streamId,
    partition: context.partitionOf(streamId),
    payload,
    metadata: { deviceId, ...(operatorId === undefined ? {} : { operatorId }), causationId: cause.commandId, origin: 'saga' },
    idempotencyKey: null,
    requestHash: null,
    receivedAt: context.now,
    bypass,
  }
}

/**
 * Negative control only (WAYBILL_FAULTS=non-idempotent-saga): the id of a message made before — its
 * decision made again, after a cycle that did not commit — is no longer the one its cause names.
 */
function madeAgain(id: string): string {
  const times = (sagaFaults.built.get(id) ?? 0) + 1
  sagaFaults.built.set(id, times)
  return times === 1 ? id : `${id}~${times}`
}

/** To a truck. LOAD waits its turn (behind a departure in progress); the others always pass. */
export function toTruck(id: string, truckId: string, payload: TruckMessage, cause: Cause, context: StepContext): NewCommand {
  return message(id, truckStream(truckId), payload, cause, context, payload.type !== 'LOAD')
}

/** To a shipment. A truck's answer passes (the shipment waits for it); a departure waits its turn. */
export function toShipment(id: string, shipmentId: string, payload: ShipmentMessage, cause: Cause, context: StepContext): NewCommand {
  return message(id, shipmentId, payload, cause, context, payload.type === 'TRUCK_REPLY')
}
