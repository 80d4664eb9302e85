import { idOfStream } from '../../machines/kinds.js'
import type { Actor } from './actors.js'
import { shipmentFacts, shipmentView, type ShipmentView } from './shipments.js'
import { truckViewOfActor, type TruckView } from './trucks.js'

/**
 * The API shape of an aggregate (`Shipment`, `Truck` of docs/api.md), from its actor: the one place
 * a live reply, a replay and time travel turn state into what clients see.
 */
export type AggregateView = ShipmentView | TruckView

/** The view of the aggregate the actor is; null when it has no events. */
export function viewOf(streamId: string, actor: Actor): AggregateView | null {
  switch (actor.kind.name) {
    case 'shipment': {
      const facts = shipmentFacts(idOfStream(streamId), actor)
      return facts && shipmentView(facts)
    }
    case 'truck':
      return truckViewOfActor(idOfStream(streamId), actor)
    default:
      throw new Error(`no view for kind ${actor.kind.name}`)
  }
}

/** A shipment's view (narrows a report's view for the shipment routes). */
export function isShipmentView(view: AggregateView | null): view is ShipmentView {
  return view !== null && 'shipmentId' in view
}

/** A truck's view. */
export function isTruckView(view: AggregateView | null): view is TruckView {
  return view !== null && 'truckId' in view && 'manifest' in view
}
