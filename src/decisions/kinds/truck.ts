import { idOfStream } from '../../../machines/kinds.js'
import { truckKind, type TruckCommand, type TruckSnapshot } from '../../../machines/truck/index.js'
import { storedTruckCommand } from '../../commands/payload.js'
import type { Actor } from '../../projections/actors.js'
import { messageIds } from '../../projections/sagas.js'
import type { CommandMetadata, InboxCommand } from '../../store/types.js'
import { toShipment, toTruck } from '../messages.js'
import { machineStep, type CommandRef, type KindHandler, type Step, type StepContext, type StepOutcome } from '../step.js'

/**
 * A truck's decisions, and its side of the saga (see kinds/shipment.ts): it answers its shipments'
 * LOAD and UNLOAD (a place granted or refused: truck_full, truck_departed; `not_found` before it was
 * opened), settles held places (CONFIRM, RELEASE), and departs with its manifest — every shipment on
 * it gets a DEPART_SHIP message, decided by that shipment's owner: exactly one ShipmentShipped each,
 * carrying the DEPART command's id as its causationId.
 *
 * A DEPART while places are held for shipments leaving another truck WAITS (the truck's LOADs wait
 * behind it, in order) until those are settled, then departs (its own DEPART_NOW message). UNLOAD,
 * CONFIRM and RELEASE are always answered, also while it waits: so no wait ever depends on another
 * wait, and every saga ends.
 */
interface Wait {
  readonly step: 'depart'
  readonly cause: CommandRef & { readonly metadata: CommandMetadata }
}

const outcome = (command: InboxCommand, state: string, status: 'accepted' | 'rejected', reason: string | null = null, detail: string | null = null, recordsEvent = false): StepOutcome => ({
  command, status, reason, detail, decidedState: state, recordsEvent,
})

/** The machine's decision on a message, with its answer to the shipment that asked. */
function answered(actor: Actor, command: InboxCommand, request: TruckCommand, replyTo: string, step: 'load' | 'unload', context: StepContext): Step {
  const decided = machineStep(actor, command, request)
  const own = decided.outcomes[0]!
  const shipmentId = (request as { shipmentId: string }).shipmentId
  const reply = toShipment(
    messageIds.reply(command.commandId),
    shipmentId,
    { type: 'TRUCK_REPLY', truckId: idOfStream(command.streamId), to: replyTo, step, outcome: own.status, ...(own.reason === null ? {} : { reason: own.reason }) },
    command,
    context,
  )
  return { ...decided, messages: [reply] }
}

/** The departure: TruckDeparted with the manifest, and a DEPART_SHIP to each shipment on it. */
function depart(actor: Actor, truckId: string, cause: CommandRef & { metadata: CommandMetadata }, outcomes: (recorded: StepOutcome) => StepOutcome[], context: StepContext): Step {
  const snapshot = actor.snapshot as TruckSnapshot
  const decision = truckKind.decide(snapshot, { type: 'DEPART' })
  if (decision.outcome === 'rejected') throw new Error(`truck ${truckId}: DEPART refused at departure (${decision.reason})`)
  const manifest = snapshot.context.manifest
  return {
    event: { type: decision.event.type, data: decision.event.data, cause: { commandId: cause.commandId, metadata: cause.metadata, receivedAt: cause.receivedAt } },
    snapshot: decision.snapshot,
    outcomes: outcomes({ command: cause, status: 'accepted', reason: null, detail: null, decidedState: 'loading', recordsEvent: true }),
    messages: manifest.map((shipmentId) =>
      toShipment(messageIds.ship(cause.commandId, shipmentId), shipmentId, { type: 'DEPART_SHIP', truckId }, cause, context),
    ),
    wait: null,
  }
}

export const trucks: KindHandler = {
  kind: truckKind,
  parse: storedTruckCommand,

  decide(actor, command, parsed, context) {
    const snapshot = actor.snapshot as TruckSnapshot
    const state = truckKind.stateOf(snapshot)
    const value = parsed as ReturnType<typeof storedTruckCommand>
    const waits = actor.wait?.state as Wait | undefined
    const self = { commandId: command.commandId, metadata: command.metadata }
    const truckId = idOfStream(command.streamId)
    switch (value.type) {
      case 'DEPART': {
        const decision = truckKind.decide(snapshot, value)
        if (decision.outcome === 'accepted') return depart(actor, truckId, refOf(command), (recorded) => [recorded], context)
        if (decision.reason !== 'reservations_open') return machineStep(actor, command, value)
        // Held places first: the truck waits (its LOADs behind it) until they are settled.
        return { event: null, snapshot, outcomes: [], messages: [], wait: { commandId: command.commandId, seq: command.seq, state: { step: 'depart', cause: refOf(command) } satisfies Wait } }
      }
      case 'LOAD':
        return answered(actor, command, { type: 'LOAD', shipmentId: value.shipmentId, hold: value.hold }, value.replyTo, 'load', context)
      case 'UNLOAD': {
        if (waits) {
          // Departing: the shipment is on the manifest and leaves with the truck.
          const reply = toShipment(messageIds.reply(command.commandId), value.shipmentId, { type: 'TRUCK_REPLY', truckId: truckId, to: value.replyTo, step: 'unload', outcome: 'rejected', reason: 'truck_departed' }, command, context)
          return { event: null, snapshot, messages: [reply], outcomes: [outcome(command, state, 'rejected', 'truck_departed', 'the truck is departing')] }
        }
        if (state === 'loading' && !snapshot.context.manifest.includes(value.shipmentId)) {
          if (snapshot.context.departures > 0) {
            // Loading again without it: the shipment's place was on a trip that left (and came back)
            // before its UNLOAD got here, and it left with it — its DEPART_SHIP is queued behind.
            const reply = toShipment(messageIds.reply(command.commandId), value.shipmentId, { type: 'TRUCK_REPLY', truckId: truckId, to: value.replyTo, step: 'unload', outcome: 'rejected', reason: 'truck_departed' }, command, context)
            return { event: null, snapshot, messages: [reply], outcomes: [outcome(command, state, 'rejected', 'truck_departed', 'the shipment left with an earlier departure of this truck')] }
          }
          // Not on a truck that never left (nothing to give back): the place is free, which is what was asked.
          const reply = toShipment(messageIds.reply(command.commandId), value.shipmentId, { type: 'TRUCK_REPLY', truckId: truckId, to: value.replyTo, step: 'unload', outcome: 'accepted' }, command, context)
          return { event: null, snapshot, messages: [reply], outcomes: [outcome(command, state, 'accepted')] }
        }
        return answered(actor, command, { type: 'UNLOAD', shipmentId: value.shipmentId }, value.replyTo, 'unload', context)
      }
      case 'CONFIRM':
      case 'RELEASE': {
        const settled = machineStep(actor, command, value)
        const next = settled.snapshot as TruckSnapshot
        // The last held place settled while a DEPART waits: the truck tells itself to leave.
        const leave = waits && next.context.reserved.length === 0 ? [toTruck(messageIds.departNow(waits.cause.commandId), truckId, { type: 'DEPART_NOW' }, self, context)] : []
        return { ...settled, messages: leave }
      }
      case 'DEPART_NOW': {
        if (!waits || snapshot.context.reserved.length > 0) return { event: null, snapshot, messages: [], outcomes: [outcome(command, state, 'accepted')] }
        return depart(actor, truckId, waits.cause, (recorded) => [outcome(command, state, 'accepted'), recorded], context)
      }
      default:
        return machineStep(actor, command, value)
    }
  },
}

function refOf(command: InboxCommand): CommandRef & { metadata: CommandMetadata } {
  return { seq: command.seq, commandId: command.commandId, type: command.type, receivedAt: command.receivedAt, metadata: command.metadata }
}
