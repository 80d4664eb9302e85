import { assign, setup } from 'xstate'
import type { TruckCommand } from './commands.js'

/**
 * A truck's life as an XState v5 statechart: opened at a dock (loading), departed with its load,
 * returned empty and loading again. The single source of its rules, reasons and `allowed` lists.
 *
 * Its context is its load: `manifest` (shipments on it) and `reserved` (places held for shipments
 * that are leaving another truck; they count against the capacity until confirmed or released), and
 * `departures`, how often it has left: a shipment's UNLOAD that finds it loading again without that
 * shipment aboard comes from a place on an earlier trip, which left with the shipment.
 * Pure and deterministic like every machine here: no I/O, no clock, guards read context and command.
 * Bump `version` with every change of the chart.
 */
export interface TruckContext {
  readonly capacity: number | null
  readonly destination: string | null
  readonly manifest: readonly string[]
  readonly reserved: readonly string[]
  /** Departures so far (every trip it left on). */
  readonly departures: number
}

export const truckRejectionReasons = ['invalid_transition', 'not_found', 'already_registered', 'truck_full', 'truck_departed', 'reservations_open'] as const
export type TruckRejectionReason = (typeof truckRejectionReasons)[number]

export interface TruckStateMeta {
  readonly rejection?: TruckRejectionReason
  /** Per-command reasons in this state (a command it does not handle, for a reason of its own). */
  readonly rejections?: Partial<Record<TruckCommand['type'], TruckRejectionReason>>
  readonly label?: string
}

const without = (list: readonly string[], id: string) => list.filter((x) => x !== id)
const has = (context: TruckContext, id: string) => context.manifest.includes(id) || context.reserved.includes(id)

export const truckMachine = setup({
  types: {
    context: {} as TruckContext,
    events: {} as TruckCommand,
    meta: {} as TruckStateMeta,
  },
  guards: {
    hasRoom: ({ context, event }) =>
      event.type === 'LOAD' && !has(context, event.shipmentId) && (context.capacity === null || context.manifest.length + context.reserved.length < context.capacity),
    isOnManifest: ({ context, event }) => event.type === 'UNLOAD' && context.manifest.includes(event.shipmentId),
    isReserved: ({ context, event }) => (event.type === 'CONFIRM' || event.type === 'RELEASE') && context.reserved.includes(event.shipmentId),
    noReservations: ({ context }) => context.reserved.length === 0,
  },
  actions: {
    open: assign(({ event }) => (event.type === 'OPEN' ? { capacity: event.capacity ?? null, destination: event.destination ?? null } : {})),
    load: assign(({ context, event }) =>
      event.type !== 'LOAD' ? {} : event.hold ? { reserved: [...context.reserved, event.shipmentId] } : { manifest: [...context.manifest, event.shipmentId] },
    ),
    unload: assign(({ context, event }) => (event.type === 'UNLOAD' ? { manifest: without(context.manifest, event.shipmentId) } : {})),
    confirm: assign(({ context, event }) =>
      event.type === 'CONFIRM' ? { reserved: without(context.reserved, event.shipmentId), manifest: [...context.manifest, event.shipmentId] } : {},
    ),
    release: assign(({ context, event }) => (event.type === 'RELEASE' ? { reserved: without(context.reserved, event.shipmentId) } : {})),
    depart: assign(({ context }) => ({ departures: context.departures + 1 })),
    empty: assign({ manifest: [], reserved: [] }),
  },
}).createMachine({
  id: 'truck',
  version: '2',
  description: 'A truck at the depot: opened at a dock, loaded up to its capacity, departed with its load, returned empty.',
  initial: 'unopened',
  context: { capacity: null, destination: null, manifest: [], reserved: [], departures: 0 },
  states: {
    unopened: {
      description: 'Not opened at a dock: shipments assigned to its id are not tracked (no capacity, no departure).',
      meta: { rejection: 'not_found', label: 'not opened' },
      on: { OPEN: { target: 'loading', actions: 'open', description: 'Open at a dock. The truck starts loading, up to its capacity.' } },
    },
    loading: {
      description: 'At its dock, taking shipments on until it is full.',
      meta: { label: 'loading' },
      on: {
        LOAD: { guard: 'hasRoom', actions: 'load', description: 'Take a shipment. A shipment assigned to it takes a place (or holds one while it leaves another truck).', meta: { rejection: 'truck_full' } },
        UNLOAD: { guard: 'isOnManifest', actions: 'unload', description: 'Give a place back. A shipment leaves its load (unassigned, reassigned or cancelled).' },
        CONFIRM: { guard: 'isReserved', actions: 'confirm', description: 'Confirm a held place. A place held for a shipment becomes its own.' },
        RELEASE: { guard: 'isReserved', actions: 'release', description: 'Release a held place. A place held for a shipment is given back.' },
        DEPART: { guard: 'noReservations', target: 'departed', actions: 'depart', description: 'Depart. Leaves the depot; everything on it ships.', meta: { rejection: 'reservations_open' } },
      },
    },
    departed: {
      description: 'On the road with its load; everything on its manifest shipped with it.',
      meta: { label: 'departed', rejections: { LOAD: 'truck_departed', UNLOAD: 'truck_departed' } },
      on: { RETURN: { target: 'loading', actions: 'empty', description: 'Return. Back at the depot, empty, loading again.' } },
    },
  },
})

export type TruckMachine = typeof truckMachine
