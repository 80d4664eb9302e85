import { assign, setup } from 'xstate'
import type { ShipmentCommand } from './commands.js'

/**
 * The shipment's life as an XState v5 statechart. This definition is the single source of the rules,
 * the rejection reasons (transition and state `meta.rejection`), the `allowed` lists, the chart on the
 * review page and the docs.
 *
 * Contract: pure and deterministic. No I/O, no clock, no randomness, no invoked actors or delays;
 * guards read only context and the command. Replay (`transition()`) therefore runs no side effects.
 * Bump `version` whenever a state, transition, guard or action changes: persisted snapshots stamped
 * with another version are ignored and the stream is replayed.
 */
export interface ShipmentContext {
  readonly truckId: string | null
  readonly origin: string | null
  readonly destination: string | null
}

export type RejectionReason = 'invalid_transition' | 'not_found' | 'already_registered' | 'same_truck'

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
    events: {} as ShipmentCommand,
    meta: {} as ShipmentStateMeta,
  },
  guards: {
    isAnotherTruck: ({ context, event }) => event.type === 'ASSIGN' && event.truckId !== context.truckId,
  },
  actions: {
    recordRoute: assign(({ event }) =>
      event.type === 'REGISTER' ? { origin: event.origin ?? null, destination: event.destination ?? null } : {},
    ),
    loadTruck: assign({ truckId: ({ event, context }) => (event.type === 'ASSIGN' ? event.truckId : context.truckId) }),
    unloadTruck: assign({ truckId: null }),
  },
}).createMachine({
  id: 'shipment',
  version: '1',
  description: 'A parcel at the depot: registered, loaded on a truck, shipped and delivered (or cancelled).',
  initial: 'unregistered',
  context: { truckId: null, origin: null, destination: null },
  states: {
    unregistered: {
      description: 'No event yet: the shipment is unknown to the depot.',
      meta: { rejection: 'not_found', label: 'new' },
      on: { REGISTER: { target: 'atDepot', actions: 'recordRoute' } },
    },
    atDepot: {
      description: 'At the depot; can still be cancelled.',
      meta: { label: 'at depot' },
      initial: 'registered',
      on: { CANCEL: { target: 'cancelled', actions: 'unloadTruck' } },
      states: {
        registered: {
          description: 'Known to the depot, on no truck.',
          on: { ASSIGN: { target: 'assigned', actions: 'loadTruck' } },
        },
        assigned: {
          description: 'Assigned to a truck, waiting to leave.',
          on: {
            ASSIGN: {
              guard: 'isAnotherTruck',
              actions: 'loadTruck',
              description: 'Reassign to another truck.',
              meta: { rejection: 'same_truck' } satisfies ShipmentTransitionMeta,
            },
            UNASSIGN: { target: 'registered', actions: 'unloadTruck' },
            SHIP: { target: '#shipment.shipped' },
          },
        },
      },
    },
    shipped: {
      description: 'Left the depot on its truck.',
      on: { DELIVER: { target: 'delivered' } },
    },
    delivered: { type: 'final', description: 'Handed to the recipient. Final.' },
    cancelled: { type: 'final', description: 'Will not be shipped. Final.' },
  },
})

export type ShipmentMachine = typeof shipmentMachine
