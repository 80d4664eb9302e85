import { assign, setup } from 'xstate'
import type { ShipmentMachineEvent } from './commands.js'

/**
 * The shipment's life as an XState v5 statechart. This definition is the single source of the rules,
 * the rejection reasons (transition and state `meta.rejection`), the `allowed` lists, the chart on the
 * review page and the docs.
 *
 * Contract: pure and deterministic. No I/O, no clock, no randomness, no invoked actors or delays;
 * guards read only context and the command. Replay (`transition()`) therefore runs no side effects.
 * Bump `version` whenever a state, transition, guard or action changes: persisted snapshots stamped
 * with another version are ignored and the stream is replayed, unless the kind declares that version's
 * snapshots still valid (`readsSnapshotsOf`: version 2 only added to version 1).
 *
 * A truck opened at the depot is an actor of its own (machines/truck): a shipment on an opened truck
 * (`onOpenTruck`) leaves with the truck's departure, not with its own SHIP.
 */
export interface ShipmentContext {
  readonly truckId: string | null
  readonly origin: string | null
  readonly destination: string | null
  /** On an opened truck's manifest (shipped by its departure); false or absent: a truck id only (v1). */
  readonly onOpenTruck?: boolean
}

/**
 * Every reason the machine gives for a rejection (stable codes: clients switch on them); a shipment's
 * command may also be refused for its truck's reasons (`truck_full`, `truck_departed`: machines/truck).
 */
export const rejectionReasons = ['invalid_transition', 'not_found', 'already_registered', 'same_truck', 'awaiting_departure'] as const
export type RejectionReason = (typeof rejectionReasons)[number]

/** Meta on a state: why a command the state does not handle is refused there. */
export interface ShipmentStateMeta {
  readonly rejection?: RejectionReason
  readonly label?: string
}
/** Meta on a guarded transition: why the command is refused when the guard says no. */
export interface ShipmentTransitionMeta {
  readonly rejection?: RejectionReason
}

export const shipmentMachine = setup({
  types: {
    context: {} as ShipmentContext,
    events: {} as ShipmentMachineEvent,
    meta: {} as ShipmentStateMeta,
  },
  guards: {
    isAnotherTruck: ({ context, event }) => event.type === 'ASSIGN' && event.truckId !== context.truckId,
    notOnOpenTruck: ({ context }) => context.onOpenTruck !== true,
    leavesWithThisTruck: ({ context, event }) => event.type === 'DEPART_SHIP' && context.onOpenTruck === true && event.truckId === context.truckId,
  },
  actions: {
    recordRoute: assign(({ event }) =>
      event.type === 'REGISTER' ? { origin: event.origin ?? null, destination: event.destination ?? null } : {},
    ),
    loadTruck: assign(({ event, context }) => (event.type === 'ASSIGN' ? { truckId: event.truckId, onOpenTruck: event.opened === true } : { truckId: context.truckId })),
    unloadTruck: assign({ truckId: null, onOpenTruck: false }),
  },
}).createMachine({
  id: 'shipment',
  version: '2',
  description: 'A parcel at the depot: registered, loaded on a truck, shipped and delivered (or cancelled).',
  initial: 'unregistered',
  context: { truckId: null, origin: null, destination: null, onOpenTruck: false },
  states: {
    unregistered: {
      description: 'No event yet: the shipment is unknown to the depot.',
      meta: { rejection: 'not_found', label: 'new' },
      on: { REGISTER: { target: 'atDepot', actions: 'recordRoute', description: 'Register. Scanned in at the depot for the first time, with where it goes.' } },
    },
    atDepot: {
      description: 'At the depot; can still be cancelled.',
      meta: { label: 'at depot' },
      initial: 'registered',
      on: { CANCEL: { target: 'cancelled', actions: 'unloadTruck', description: 'Cancel. It will not be shipped; its place on a truck is given back.' } },
      states: {
        registered: {
          description: 'Known to the depot, on no truck.',
          on: { ASSIGN: { target: 'assigned', actions: 'loadTruck', description: 'Assign to a truck. Put on a truck; a truck opened at a dock takes it while it has room and has not left.' } },
        },
        assigned: {
          description: 'Assigned to a truck, waiting to leave.',
          on: {
            ASSIGN: {
              guard: 'isAnotherTruck',
              actions: 'loadTruck',
              description: 'Reassign. Moved to another truck (a scan naming the truck it is already on is refused).',
              meta: { rejection: 'same_truck' } satisfies ShipmentTransitionMeta,
            },
            UNASSIGN: { target: 'registered', actions: 'unloadTruck', description: 'Unassign. Taken off its truck; it waits at the depot again.' },
            SHIP: {
              target: '#shipment.shipped',
              guard: 'notOnOpenTruck',
              description: 'Ship. Scanned as shipped; refused while it is on a truck opened at a dock, which ships its load when it departs.',
              meta: { rejection: 'awaiting_departure' } satisfies ShipmentTransitionMeta,
            },
            DEPART_SHIP: { target: '#shipment.shipped', guard: 'leavesWithThisTruck', description: 'Leave with its truck. Shipped by the departure of the opened truck it is on, without a scan of its own.' },
          },
        },
      },
    },
    shipped: {
      description: 'Left the depot on its truck.',
      on: { DELIVER: { target: 'delivered', description: 'Deliver. Handed to the recipient.' } },
    },
    delivered: { type: 'final', description: 'Handed to the recipient. Final.' },
    cancelled: { type: 'final', description: 'Will not be shipped. Final.' },
  },
})

export type ShipmentMachine = typeof shipmentMachine
