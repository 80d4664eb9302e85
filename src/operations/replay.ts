import { kindOfStream } from '../../machines/kinds.js'
import { applyEvent, emptyActor } from '../projections/actors.js'
import type { Store } from '../store/store.js'

/**
 * `replay <shipmentId>` (or `replay --truck <truckId>`): the stream's events through its pure machine,
 * and the state after each — what a reviewer or a support engineer needs to see how a shipment or a
 * truck got where it is.
 */
export interface ReplayStep {
  readonly version: number
  readonly type: string
  readonly recordedAt: string
  readonly state: string
  /** A shipment's truck. */
  readonly truckId: string | null
  /** A truck's shipments on board (loading) or gone with it (departed). */
  readonly manifest?: readonly string[]
  readonly allowed: readonly string[]
  readonly deviceId: unknown
  readonly commandId: unknown
}

export async function* replayStream(store: Store, streamId: string): AsyncGenerator<ReplayStep> {
  let actor = emptyActor(kindOfStream(streamId))
  for await (const event of pages(store, streamId)) {
    actor = applyEvent(actor, event)
    const context = (actor.snapshot as { context?: { truckId?: string | null; manifest?: readonly string[] } }).context
    yield {
      version: event.version,
      type: event.type,
      recordedAt: new Date(event.recordedAt).toISOString(),
      state: actor.kind.stateOf(actor.snapshot),
      truckId: context?.truckId ?? null,
      ...(actor.kind.name === 'truck' ? { manifest: [...(context?.manifest ?? [])] } : {}),
      allowed: actor.kind.allowed(actor.snapshot),
      deviceId: event.metadata.deviceId,
      commandId: event.metadata.commandId,
    }
  }
}

/** The stream a page at a time (a long history is never loaded at once). */
async function* pages(store: Store, streamId: string) {
  for (let after = 0; ; ) {
    const page = await store.events.readStreamPage(streamId, after, 1000)
    if (page.length === 0) return
    yield* page
    after = page[page.length - 1]!.version
  }
}

export function formatStep(step: ReplayStep): string {
  const where = step.manifest ? `load ${step.manifest.length}` : `truck ${step.truckId ?? '-'}`
  return `v${step.version}  ${step.recordedAt}  ${step.type.padEnd(18)} → ${step.state.padEnd(10)} ${where}  (by ${String(step.deviceId)}; next: ${step.allowed.join(', ') || 'nothing, final'})`
}
