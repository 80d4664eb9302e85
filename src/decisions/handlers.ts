import { kindOfStream } from '../../machines/kinds.js'
import { shipments } from './kinds/shipment.js'
import { trucks } from './kinds/truck.js'
import type { KindHandler } from './step.js'

/**
 * The aggregate registry of the decision cycle: per kind, how a stored payload becomes a command and
 * how a command is decided. A new kind is a machine (machines/), an entry here and its projections.
 */
const handlers: ReadonlyMap<string, KindHandler> = new Map([shipments, trucks].map((handler) => [handler.kind.name, handler]))

export function handlerOf(streamId: string): KindHandler {
  const handler = handlers.get(kindOfStream(streamId).name)
  if (!handler) throw new Error(`no handler for the kind of stream ${streamId}`)
  return handler
}
