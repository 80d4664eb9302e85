import { truckStream } from '../../../machines/kinds.js'
import { shipmentKind, type AssignToTruck, type ShipmentMachineEvent, type ShipmentSnapshot } from '../../../machines/shipment/index.js'
import { storedShipmentCommand } from '../../commands/payload.js'
import type { ShipmentMessage } from '../../commands/schemas.js'
import type { Actor } from '../../projections/actors.js'
import { messageIds } from '../../projections/sagas.js'
import type { CommandMetadata, InboxCommand, NewCommand } from '../../store/types.js'
import { toTruck } from '../messages.js'
import { machineStep, type CommandRef, type KindHandler, type Step, type StepContext, type StepOutcome } from '../step.js'

/**
 * A shipment's decisions, and its side of the trucks' saga (docs/design.md, *Trucks*).
 *
 * A truck that was opened at the depot is an actor with a capacity and a departure; its place on the
 * truck is the truck's to give. So a scanner's ASSIGN to an opened truck, and UNASSIGN, CANCEL or a
 * reassignment of a shipment on one, do not decide at once: the shipment checks its own rules, asks
 * the truck (LOAD / UNLOAD, durable messages), and WAITS — its other commands wait behind in order —
 * until the truck's answer completes the command:
 *
 *   ASSIGN to an opened truck           LOAD → granted: TruckAssigned{opened} · refused: truck_full / truck_departed
 *   UNASSIGN, CANCEL on an opened truck UNLOAD → released: the command · refused: truck_departed (it left)
 *   reassign from an opened truck       LOAD (a held place) on the new one, then UNLOAD from the old one,
 *                                       then CONFIRM the held place (or RELEASE it when the old one left)
 *
 * The place on the new truck is taken first and only held: the old truck can still depart with the
 * shipment, and the new one cannot depart until the held place is settled, so the shipment is always
 * on exactly one manifest and ships exactly once. A truck never opened (a truck id only) is v1: the
 * shipment's stream reads the truck's stream inside the same write transaction (the store runs one
 * at a time), finds no events, and decides at once.
 */
interface Wait {
  readonly step: 'load' | 'unload'
  /** The scanner's command that waits (its metadata goes on the event that completes it). */
  readonly cause: CommandRef & { readonly metadata: CommandMetadata }
  /** What the machine is sent when the answers are in (ASSIGN, UNASSIGN or CANCEL). */
  readonly command: ShipmentMachineEvent
  /** The truck it goes onto (ASSIGN), whether that truck gave it a place, and the opened truck it leaves. */
  readonly target: string | null
  readonly targetOpened: boolean
  readonly from: string | null
}

const refOf = (command: InboxCommand): CommandRef & { metadata: CommandMetadata } => ({
  seq: command.seq,
  commandId: command.commandId,
  type: command.type,
  receivedAt: command.receivedAt,
  metadata: command.metadata,
})

function waiting(actor: Actor, command: InboxCommand, wait: Wait, messages: NewCommand[]): Step {
  return { event: null, snapshot: actor.snapshot, outcomes: [], messages, wait: { commandId: command.commandId, seq: command.seq, state: wait } }
}

/** The waiting command decided now: the machine applies it (the shipment did not move meanwhile), or the truck's reason refuses it. */
function complete(actor: Actor, reply: InboxCommand, wait: Wait, verdict: { refused: string | null }, messages: NewCommand[]): Step {
  const snapshot = actor.snapshot as ShipmentSnapshot
  const state = shipmentKind.stateOf(snapshot)
  const own: StepOutcome = { command: reply, status: 'accepted', reason: null, detail: null, decidedState: state, recordsEvent: false }
  const cause = wait.cause
  if (verdict.refused !== null) {
    const detail =
      verdict.refused === 'truck_departed'
        ? wait.from !== null
          ? `the shipment is on truck ${wait.from}, which has departed with it`
          : `truck ${wait.target} has departed`
        : verdict.refused === 'truck_full'
          ? `truck ${wait.target} is full`
          : `truck ${wait.target ?? wait.from} refused it (${verdict.refused})`
    return {
      event: null, snapshot, messages, wait: null,
      outcomes: [own, { command: cause, status: 'rejected', reason: verdict.refused, detail, decidedState: state, recordsEvent: false }],
    }
  }
  const decision = shipmentKind.decide(snapshot, wait.command)
  if (decision.outcome === 'rejected') {
    return { event: null, snapshot, messages, wait: null, outcomes: [own, { command: cause, status: 'rejected', reason: decision.reason, detail: decision.detail, decidedState: decision.state, recordsEvent: false }] }
  }
  return {
    event: { type: decision.event.type, data: decision.event.data, cause: { commandId: cause.commandId, metadata: cause.metadata, receivedAt: cause.receivedAt } },
    snapshot: decision.snapshot,
    messages,
    wait: null,
    outcomes: [own, { command: cause, status: 'accepted', reason: null, detail: null, decidedState: state, recordsEvent: true }],
  }
}

/** A truck's answer to the load or unload the shipment waits for. */
function answer(actor: Actor, reply: InboxCommand, message: Extract<ShipmentMessage, { type: 'TRUCK_REPLY' }>, context: StepContext): Step {
  const stored = actor.wait
  const state = shipmentKind.stateOf(actor.snapshot as ShipmentSnapshot)
  if (!stored || stored.commandId !== message.to) {
    // Nothing waits for it (a stray or repeated answer): recorded, no effect.
    return { event: null, snapshot: actor.snapshot, messages: [], outcomes: [{ command: reply, status: 'rejected', reason: 'invalid_transition', detail: 'no saga of this shipment waits for this answer', decidedState: state, recordsEvent: false }] }
  }
  const wait = stored.state as Wait
  const cause = { commandId: wait.cause.commandId, metadata: wait.cause.metadata }
  const shipmentId = reply.streamId
  if (wait.step === 'load') {
    // `not_found`: the truck is not an opened one after all — it is a truck id only (v1).
    const granted = message.outcome === 'accepted'
    if (!granted && message.reason !== 'not_found') return complete(actor, reply, wait, { refused: message.reason ?? 'invalid_transition' }, [])
    const withPlace: Wait = { ...wait, targetOpened: granted, command: wait.command.type === 'ASSIGN' ? { ...wait.command, opened: granted } : wait.command }
    if (wait.from === null) return complete(actor, reply, withPlace, { refused: null }, [])
    const unload = messageIds.unload(wait.cause.commandId)
    return {
      event: null, snapshot: actor.snapshot,
      outcomes: [{ command: reply, status: 'accepted', reason: null, detail: null, decidedState: state, recordsEvent: false }],
      messages: [toTruck(unload, wait.from, { type: 'UNLOAD', shipmentId, replyTo: wait.cause.commandId }, cause, context)],
      wait: { commandId: stored.commandId, seq: stored.seq, state: { ...withPlace, step: 'unload' } satisfies Wait },
    }
  }
  // The opened truck it leaves answered. A held place on the new truck is confirmed, or released.
  const left = message.outcome === 'accepted'
  const settle = wait.target !== null && wait.targetOpened && wait.from !== null
    ? [
        left
          ? toTruck(messageIds.confirm(wait.cause.commandId), wait.target, { type: 'CONFIRM', shipmentId }, cause, context)
          : toTruck(messageIds.release(wait.cause.commandId), wait.target, { type: 'RELEASE', shipmentId }, cause, context),
      ]
    : []
  return complete(actor, reply, wait, { refused: left ? null : (message.reason ?? 'truck_departed') }, settle)
}

export const shipments: KindHandler = {
  kind: shipmentKind,
  parse: storedShipmentCommand,

  /** An ASSIGN reads its truck's stream: opened (a saga), or a truck id only (decided at once). */
  peeks: (_command, parsed) => (parsed.type === 'ASSIGN' && 'truckId' in parsed && typeof parsed.truckId === 'string' ? [truckStream(parsed.truckId)] : []),

  decide(actor, command, parsed, context) {
    const snapshot = actor.snapshot as ShipmentSnapshot
    const value = parsed as ReturnType<typeof storedShipmentCommand>
    const onOpenTruck = snapshot.context.onOpenTruck === true ? snapshot.context.truckId : null
    switch (value.type) {
      case 'TRUCK_REPLY':
        return answer(actor, command, value, context)
      case 'ASSIGN': {
        // The shipment's own rules first (not registered, same truck, already shipped…).
        if (shipmentKind.decide(snapshot, value).outcome === 'rejected') return machineStep(actor, command, value)
        const opened = (context.version(truckStream(value.truckId)) ?? 0) > 0
        const untracked: AssignToTruck = { ...value, opened: false }
        if (!opened && onOpenTruck === null) return machineStep(actor, command, untracked)
        const wait: Wait = { step: opened ? 'load' : 'unload', cause: refOf(command), command: { type: 'ASSIGN', truckId: value.truckId }, target: value.truckId, targetOpened: false, from: onOpenTruck }
        const message = opened
          ? toTruck(messageIds.load(command.commandId), value.truckId, { type: 'LOAD', shipmentId: command.streamId, hold: onOpenTruck !== null, replyTo: command.commandId }, command, context)
          : toTruck(messageIds.unload(command.commandId), onOpenTruck!, { type: 'UNLOAD', shipmentId: command.streamId, replyTo: command.commandId }, command, context)
        return waiting(actor, command, wait, [message])
      }
      case 'UNASSIGN':
      case 'CANCEL': {
        if (onOpenTruck === null || shipmentKind.decide(snapshot, value).outcome === 'rejected') return machineStep(actor, command, value)
        const wait: Wait = { step: 'unload', cause: refOf(command), command: value, target: null, targetOpened: false, from: onOpenTruck }
        return waiting(actor, command, wait, [toTruck(messageIds.unload(command.commandId), onOpenTruck, { type: 'UNLOAD', shipmentId: command.streamId, replyTo: command.commandId }, command, context)])
      }
      default:
        // REGISTER, SHIP (refused on an opened truck: awaiting_departure), DELIVER, and DEPART_SHIP
        // (its opened truck left; the event carries the departure as its causationId).
        return machineStep(actor, command, value)
    }
  },
}
