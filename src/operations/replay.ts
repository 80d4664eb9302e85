import { allowedIn, stateOf } from '../../machines/shipment/index.js'
import type { Storage } from '../storage.js'
import { applyEvent, emptyActor } from '../worker/actor.js'

/**
 * `replay <shipmentId>`: the shipment's events through the pure machine, and the state after each —
 * what a reviewer or a support engineer needs to see how a shipment got where it is.
 */
export interface ReplayStep {
  readonly version: number
  readonly type: string
  readonly recordedAt: string
  readonly state: string
  readonly truckId: string | null
  readonly allowed: readonly string[]
  readonly deviceId: unknown
  readonly commandId: unknown
}

export function* replayShipment(storage: Storage, shipmentId: string): Generator<ReplayStep> {
  let actor = emptyActor
  for (const event of storage.store.readStream(shipmentId)) {
    actor = applyEvent(actor, event)
    const state = stateOf(actor.snapshot)
    yield {
      version: event.version,
      type: event.type,
      recordedAt: new Date(event.recordedAt).toISOString(),
      state,
      truckId: actor.snapshot.context.truckId,
      allowed: allowedIn(state),
      deviceId: event.metadata.deviceId,
      commandId: event.metadata.commandId,
    }
  }
}

export function formatStep(step: ReplayStep): string {
  return `v${step.version}  ${step.recordedAt}  ${step.type.padEnd(18)} → ${step.state.padEnd(10)} truck ${step.truckId ?? '-'}  (by ${String(step.deviceId)}; next: ${step.allowed.join(', ') || 'nothing, final'})`
}
