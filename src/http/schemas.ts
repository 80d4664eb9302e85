import { Type, type Static, type TSchema } from 'typebox'
import { anyCommandTypes, anyEventTypes, messageTypes, type AnyCommandType, type AnyEventType, type InboxType } from '../../machines/kinds.js'
import { commandTypes, rejectionReasons, shipmentStates, type CommandType, type StateName as StateNameType } from '../../machines/shipment/index.js'
import { truckChart, truckClientCommands, truckRejectionReasons, type TruckClientCommandType } from '../../machines/truck/index.js'
import { Identifier, Timestamp } from '../commands/schemas.js'
export { CommandBody, CommandPayload, Identifier, identifierPattern, TruckCommandBody } from '../commands/schemas.js'

/**
 * The HTTP contract (docs/api.md) as TypeBox schemas: each validates at runtime (Ajv) and is the static type
 * of the handler's input. The command and event type lists come from the machine.
 */

export const ShipmentParams = Type.Object({ shipmentId: Identifier }, { additionalProperties: false })
export const TruckParams = Type.Object({ truckId: Identifier }, { additionalProperties: false })
export const CommandParams = Type.Object({ commandId: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9._-]+$', description: 'a command id (a UUID), or the id of a message between actors (derived from its cause)' }) }, { additionalProperties: false })

export const CommandHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ pattern: '^[\\x21-\\x7E]{1,255}$', description: '1–255 visible ASCII characters' })),
  prefer: Type.Optional(Type.String({ maxLength: 200 })),
})

/** A string enum whose static type is the machine's literal union. */
function oneOfStrings<T extends string>(values: readonly T[], description: string) {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], description })
}
const StateName = oneOfStrings<StateNameType>(shipmentStates, 'state of the shipment machine')
const CommandTypeName = oneOfStrings<CommandType>(commandTypes, 'command type')
const AnyCommandTypeName = oneOfStrings<AnyCommandType>(anyCommandTypes, 'command type (a shipment’s or a truck’s)')
const InboxTypeName = oneOfStrings<InboxType>([...anyCommandTypes, ...messageTypes], 'command type (a shipment’s or a truck’s), or the type of a message between them')
const EventTypeName = oneOfStrings<AnyEventType>(anyEventTypes, 'event type (a shipment’s or a truck’s)')
/**
 * The machines' rejection reasons (a shipment's command may also be refused for its truck's reasons),
 * plus `discarded` (an administrator discarded a parked command).
 */
export const reasonCodes = [...new Set([...rejectionReasons, ...truckRejectionReasons]), 'discarded'] as const
export type ReasonCode = (typeof reasonCodes)[number]
const Reason = oneOfStrings<ReasonCode>(reasonCodes, 'why the command was rejected (a stable code)')
const reasonSet: ReadonlySet<string> = new Set(reasonCodes)

const isReasonCode = (reason: string): reason is ReasonCode => reasonSet.has(reason)

/** A stored rejection reason as the contract's code (anything else is a damaged row, said as such). */
export function reasonOf(reason: string): ReasonCode {
  if (!isReasonCode(reason)) throw new Error(`rejection reason ${JSON.stringify(reason)} is not one of the contract's codes`)
  return reason
}

export const Shipment = Type.Object(
  {
    shipmentId: Type.String(),
    state: StateName,
    version: Type.Integer(),
    truckId: Type.Union([Type.String(), Type.Null()]),
    origin: Type.Optional(Type.String()),
    destination: Type.Optional(Type.String()),
    registeredAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
    allowed: Type.Array(CommandTypeName),
  },
  { title: 'Shipment' },
)

const TruckCommandTypeName = oneOfStrings<TruckClientCommandType>(truckClientCommands, 'truck command type')

export const Truck = Type.Object(
  {
    truckId: Type.String(),
    state: oneOfStrings<string>(truckChart.states.filter((s) => s.id !== truckChart.initial).map((s) => s.id), 'state of the truck machine'),
    version: Type.Integer(),
    capacity: Type.Union([Type.Integer(), Type.Null()], { description: 'most shipments on it at once; null: no limit' }),
    load: Type.Integer({ description: 'shipments on it now (loading) or that left with it (departed)' }),
    manifest: Type.Array(Type.String(), { description: 'those shipments, in the order they came on' }),
    reserved: Type.Array(Type.String(), { description: 'places held for shipments leaving another truck (they count against the capacity)' }),
    destination: Type.Optional(Type.String()),
    openedAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
    departedAt: Type.Optional(Type.String({ format: 'date-time' })),
    allowed: Type.Array(TruckCommandTypeName),
  },
  { title: 'Truck' },
)

export const EventSummary = Type.Object({
  type: EventTypeName,
  version: Type.Integer(),
  position: Type.Integer(),
  recordedAt: Type.String({ format: 'date-time' }),
}, { title: 'EventSummary' })

export const CommandResult = Type.Object({
  commandId: Type.String(),
  outcome: Type.Literal('accepted'),
  shipment: Shipment,
  event: EventSummary,
}, { title: 'CommandResult' })

export const TruckResult = Type.Object({
  commandId: Type.String(),
  outcome: Type.Literal('accepted'),
  truck: Truck,
  event: EventSummary,
}, { title: 'TruckResult' })

export const Queued = Type.Object({ commandId: Type.String(), outcome: Type.Literal('queued') }, { title: 'Queued' })

export const EventMetadata = Type.Object(
  {
    commandId: Type.String(),
    deviceId: Type.Optional(Type.String()),
    operatorId: Type.Optional(Type.String()),
    scannedAt: Type.Optional(Type.String()),
    requestId: Type.Optional(Type.String()),
    receivedAt: Type.Optional(Type.String()),
    machineVersion: Type.String(),
  },
  { additionalProperties: true, title: 'EventMetadata' },
)

export const Event = Type.Object({
  position: Type.Integer(),
  streamType: Type.Union([Type.Literal('shipment'), Type.Literal('truck')], { description: 'whose event: a shipment’s (with `shipmentId`) or a truck’s (with `truckId`)' }),
  shipmentId: Type.Optional(Type.String({ description: 'the shipment, on a shipment’s event' })),
  truckId: Type.Optional(Type.String({ description: 'the truck, on a truck’s event' })),
  version: Type.Integer(),
  type: EventTypeName,
  data: Type.Record(Type.String(), Type.Unknown()),
  metadata: EventMetadata,
  recordedAt: Type.String({ format: 'date-time' }),
}, { title: 'Event' })

const Next = Type.Union([Type.Integer(), Type.Null()], { description: 'the `after` of the following page; null on the last page' })
export const ShipmentEvents = Type.Object({ shipmentId: Type.String(), events: Type.Array(Event), next: Next }, { title: 'ShipmentEvents' })
export const Feed = Type.Object({ events: Type.Array(Event), last: Type.Integer() }, { title: 'Feed' })

/** One page of a history (events by version, timeline commands by arrival): bounded cost per request. */
export const HistoryPageQuery = Type.Object(
  {
    after: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0, description: 'the `next` of the previous page (0: from the start)' }),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 1000, description: 'most items in the page' }),
  },
  { additionalProperties: false },
)

export const ShipmentQuery = Type.Object(
  {
    version: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
    at: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
)

export const ListQuery = Type.Object(
  {
    state: Type.Optional(StateName),
    truckId: Type.Optional(Identifier),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
    cursor: Type.Optional(Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' })),
  },
  { additionalProperties: false },
)
export const TruckEvents = Type.Object({ truckId: Type.String(), events: Type.Array(Event), next: Next }, { title: 'TruckEvents' })
export const TruckListQuery = Type.Object(
  {
    state: Type.Optional(oneOfStrings<string>(['loading', 'departed'], 'state of the truck machine')),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
    cursor: Type.Optional(Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' })),
  },
  { additionalProperties: false },
)
export const TruckPage = Type.Object({ items: Type.Array(Truck), next: Type.Union([Type.String(), Type.Null()]) }, { title: 'TruckPage' })
export const ShipmentPage = Type.Object({ items: Type.Array(Shipment), next: Type.Union([Type.String(), Type.Null()]) }, { title: 'ShipmentPage' })

export const FeedQuery = Type.Object(
  {
    after: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 }),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  },
  { additionalProperties: false },
)

export const CommandStatus = Type.Object({
  commandId: Type.String(),
  shipmentId: Type.Optional(Type.String({ description: 'the shipment, for a shipment’s command' })),
  truckId: Type.Optional(Type.String({ description: 'the truck, for a truck’s command' })),
  type: InboxTypeName,
  outcome: Type.Union([Type.Literal('queued'), Type.Literal('accepted'), Type.Literal('rejected')]),
  reason: Type.Optional(Reason),
  detail: Type.Optional(Type.String()),
  event: Type.Optional(EventSummary),
  shipment: Type.Optional(Shipment),
  truck: Type.Optional(Truck),
  allowed: Type.Optional(Type.Array(AnyCommandTypeName)),
  receivedAt: Type.String({ format: 'date-time' }),
  decidedAt: Type.Optional(Type.String({ format: 'date-time' })),
}, { title: 'CommandStatus' })

/** RFC 9457 problem details; extension members are allowed (and documented per route). */
export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    commandId: Type.Optional(Type.String()),
    outcome: Type.Optional(Type.Literal('rejected')),
    reason: Type.Optional(Reason),
    shipment: Type.Optional(Shipment),
    truck: Type.Optional(Truck),
    allowed: Type.Optional(Type.Array(AnyCommandTypeName)),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { additionalProperties: true, title: 'Problem' },
)

/** Problem responses for the given statuses, for a route's `response` map. */
export function problems<const S extends readonly number[]>(...statuses: S): { [K in S[number]]: typeof Problem } {
  return Object.fromEntries(statuses.map((s) => [s, Problem])) as { [K in S[number]]: typeof Problem }
}

export type { TSchema }

// --- The process map's review views (docs/process-map.md) -----------------------------------------
// Each response schema is also the static type the page's script is checked against (src/viz/assets,
// `// @ts-check` with JSDoc types imported from here): one contract for the server and its page.

const Instant = Type.String({ format: 'date-time' })
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])
const PageNext = Nullable(Type.String({ description: 'pass as `cursor` for the following page; null on the last page' }))
const WindowEcho = Type.Object({ from: Instant, to: Instant }, { description: 'the window the numbers cover' })
const perShipmentState = Type.Object(Object.fromEntries(shipmentStates.map((s) => [s, Type.Integer()])) as Record<StateNameType, ReturnType<typeof Type.Integer>>)

export const Percentiles = Type.Object(
  { samples: Type.Integer(), p50Ms: Nullable(Type.Integer()), p95Ms: Nullable(Type.Integer()) },
  { title: 'Percentiles', description: 'p50/p95 in milliseconds of `samples` durations (null without any)' },
)

/** `from`/`to` (ISO 8601): the window; absent = since the beginning / until now. */
export const WindowQuery = {
  from: Type.Optional(Timestamp),
  to: Type.Optional(Timestamp),
}
export const PageQuery = {
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  cursor: Type.Optional(Type.String({ maxLength: 400, pattern: '^[A-Za-z0-9_-]+$' })),
}

export const ReviewSummary = Type.Object(
  {
    window: WindowEcho,
    generatedAt: Instant,
    shipments: Type.Array(Type.Object({ state: StateName, now: Type.Integer({ description: 'in the state now' }), entered: Type.Integer({ description: 'entered it in the window' }) })),
    commands: Type.Object({ accepted: Type.Integer(), rejected: Type.Integer(), late: Type.Integer({ description: 'refused scans made before the change that overtook them (offline devices)' }) }, { description: "scanners' commands decided in the window" }),
    departures: Type.Object({ count: Type.Integer(), shipments: Type.Integer({ description: 'shipments that left with them' }) }),
    leadTime: Percentiles,
    stuck: Type.Object({ thresholdMs: Type.Integer(), total: Type.Integer() }),
  },
  { title: 'ReviewSummary' },
)
export type ReviewSummary = Static<typeof ReviewSummary>

const Subject = Type.Object({ kind: Type.Union([Type.Literal('shipment'), Type.Literal('truck')]), id: Type.String() })

export const RejectionsQuery = Type.Object(
  {
    state: Type.String({ minLength: 1, maxLength: 64, description: 'the state the commands were refused in (a chart state id)' }),
    command: Type.String({ minLength: 1, maxLength: 64 }),
    reason: Type.String({ minLength: 1, maxLength: 64 }),
    ...WindowQuery,
    ...PageQuery,
  },
  { additionalProperties: false },
)
export const RejectionDrillDown = Type.Object(
  {
    state: Type.String(),
    command: Type.String(),
    reason: Type.String(),
    window: WindowEcho,
    total: Type.Integer(),
    late: Type.Integer(),
    subjects: Type.Object({
      total: Type.Integer({ description: 'distinct shipments (or trucks) refused' }),
      items: Type.Array(Type.Object({ kind: Subject.properties.kind, id: Type.String(), count: Type.Integer(), late: Type.Integer(), lastAt: Instant })),
      next: PageNext,
    }),
    devices: Type.Array(Type.Object({ deviceId: Type.String(), count: Type.Integer(), late: Type.Integer() })),
    operators: Type.Array(Type.Object({ operatorId: Nullable(Type.String()), count: Type.Integer(), late: Type.Integer() })),
  },
  { title: 'RejectionDrillDown' },
)
export type RejectionDrillDown = Static<typeof RejectionDrillDown>

export const StateShipmentsParams = Type.Object({ state: StateName }, { additionalProperties: false })
export const StateShipmentsQuery = Type.Object(
  {
    order: Type.Union([Type.Literal('longest'), Type.Literal('latest')], { default: 'longest', description: 'longest in the state first, or the latest arrivals first' }),
    destination: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'only those going there' })),
    noDestination: Type.Optional(Type.Boolean({ description: 'only those registered without a destination' })),
    ...PageQuery,
  },
  { additionalProperties: false },
)
const ShipmentInState = Type.Object({
  shipmentId: Type.String(),
  since: Instant,
  forMs: Type.Integer({ description: 'time in the state so far' }),
  destination: Nullable(Type.String()),
  truckId: Nullable(Type.String()),
  registeredAt: Instant,
})
export const StateShipments = Type.Object(
  {
    state: StateName,
    destination: Type.Optional(Nullable(Type.String())),
    order: Type.String(),
    total: Type.Integer(),
    items: Type.Array(ShipmentInState),
    next: PageNext,
  },
  { title: 'StateShipments' },
)
export type StateShipments = Static<typeof StateShipments>

export const StuckQuery = Type.Object(
  { stuckAfterMs: Type.Optional(Type.Integer({ minimum: 0, description: 'override the configured stuck threshold' })), ...PageQuery },
  { additionalProperties: false },
)
export const StuckShipments = Type.Object(
  {
    thresholdMs: Type.Integer(),
    total: Type.Integer(),
    items: Type.Array(Type.Object({ shipmentId: Type.String(), state: Type.String(), since: Instant, forMs: Type.Integer(), destination: Nullable(Type.String()), truckId: Nullable(Type.String()) })),
    next: PageNext,
  },
  { title: 'StuckShipments' },
)
export type StuckShipments = Static<typeof StuckShipments>

const ReasonCount = Type.Object({ reason: Type.String(), count: Type.Integer() })
const WhoCounts = {
  commands: Type.Integer({ description: 'scanned in the window (accepted + rejected)' }),
  accepted: Type.Integer(),
  rejected: Type.Integer(),
  late: Type.Integer(),
}
export const WindowOnlyQuery = Type.Object({ ...WindowQuery }, { additionalProperties: false })
export const DeviceActivity = Type.Object(
  { window: WindowEcho, items: Type.Array(Type.Object({ deviceId: Type.String(), ...WhoCounts, reasons: Type.Array(ReasonCount) })) },
  { title: 'DeviceActivity' },
)
export type DeviceActivity = Static<typeof DeviceActivity>
export const OperatorActivity = Type.Object(
  { window: WindowEcho, items: Type.Array(Type.Object({ operatorId: Nullable(Type.String({ description: 'null: scans that named no operator' })), ...WhoCounts, reasons: Type.Array(ReasonCount) })) },
  { title: 'OperatorActivity' },
)
export type OperatorActivity = Static<typeof OperatorActivity>

export const RefusedCommand = Type.Object(
  {
    commandId: Type.String(),
    subject: Subject,
    command: Type.String(),
    state: Type.String(),
    reason: Type.String(),
    detail: Nullable(Type.String()),
    deviceId: Type.String(),
    operatorId: Nullable(Type.String()),
    scannedAt: Nullable(Instant),
    decidedAt: Instant,
    late: Type.Boolean(),
  },
  { title: 'RefusedCommand' },
)
export const WhoDetailQuery = Type.Object({ ...WindowQuery, ...PageQuery }, { additionalProperties: false })
export const DeviceParams = Type.Object({ deviceId: Identifier }, { additionalProperties: false })
export const OperatorParams = Type.Object({ operatorId: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false })
export const WhoDetail = Type.Object(
  {
    deviceId: Type.Optional(Type.String()),
    operatorId: Type.Optional(Type.String()),
    window: WindowEcho,
    ...WhoCounts,
    byCommand: Type.Array(Type.Object({ command: Type.String(), accepted: Type.Integer(), rejected: Type.Integer(), late: Type.Integer() })),
    reasons: Type.Array(ReasonCount),
    refused: Type.Object({ items: Type.Array(RefusedCommand), next: PageNext }),
  },
  { title: 'WhoDetail' },
)
export type WhoDetail = Static<typeof WhoDetail>

export const DestinationActivity = Type.Object(
  {
    window: WindowEcho,
    items: Type.Array(
      Type.Object({
        destination: Nullable(Type.String({ description: 'null: registered without a destination' })),
        now: perShipmentState,
        entered: perShipmentState,
        leadTime: Percentiles,
        rejected: Type.Integer(),
      }),
    ),
  },
  { title: 'DestinationActivity' },
)
export type DestinationActivity = Static<typeof DestinationActivity>

export const TruckBoard = Type.Object(
  {
    window: WindowEcho,
    items: Type.Array(
      Type.Object({
        truckId: Type.String(),
        state: Type.String(),
        load: Type.Integer(),
        held: Type.Integer({ description: 'places held for shipments leaving another truck' }),
        capacity: Nullable(Type.Integer()),
        destination: Nullable(Type.String()),
        openedAt: Instant,
        departedAt: Nullable(Instant),
        departures: Type.Integer({ description: 'departures in the window' }),
        shipped: Type.Integer({ description: 'shipments that left with them' }),
        lastDepartureAt: Nullable(Instant),
      }),
    ),
  },
  { title: 'TruckBoard' },
)
export type TruckBoard = Static<typeof TruckBoard>

export const Departure = Type.Object(
  {
    commandId: Nullable(Type.String({ description: 'the DEPART command (the `causationId` of the shipments it shipped)' })),
    truckId: Type.String(),
    position: Type.Integer(),
    departedAt: Instant,
    load: Type.Integer(),
    deviceId: Nullable(Type.String()),
    operatorId: Nullable(Type.String()),
  },
  { title: 'Departure' },
)
export const TruckReview = Type.Object(
  {
    truck: Truck,
    departures: Type.Array(Departure),
    manifest: Type.Array(Type.Object({ shipmentId: Type.String(), state: Nullable(Type.String()), destination: Nullable(Type.String()) })),
  },
  { title: 'TruckReview' },
)
export type TruckReview = Static<typeof TruckReview>

export const CompareQuery = Type.Object({ from: Timestamp, to: Type.Optional(Timestamp) }, { additionalProperties: false })
export const Comparison = Type.Object(
  {
    window: WindowEcho,
    hourMs: Type.Integer(),
    series: Type.Array(
      Type.Object({
        name: Type.Union([Type.Literal('window'), Type.Literal('dayBefore'), Type.Literal('weekBefore')]),
        from: Instant,
        to: Instant,
        hours: Type.Array(Type.Object({ start: Instant, entered: perShipmentState, moves: Type.Integer(), dwellP50Ms: Nullable(Type.Integer()) })),
        entered: perShipmentState,
        dwell: Type.Record(Type.String(), Percentiles),
        leadTime: Percentiles,
      }),
    ),
  },
  { title: 'Comparison' },
)
export type Comparison = Static<typeof Comparison>

export const ShipmentReviewQuery = Type.Object({ version: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })) }, { additionalProperties: false })
export const ShipmentReview = Type.Object(
  {
    shipmentId: Type.String(),
    version: Type.Integer({ description: 'the step shown' }),
    latest: Type.Integer(),
    current: Type.String({ description: 'the state at that step' }),
    path: Type.Object({ states: Type.Array(Type.String()), transitions: Type.Array(Type.String()) }, { description: 'the chart states and transitions it has passed through up to that step' }),
    state: StateName,
    since: Instant,
    destination: Nullable(Type.String()),
    truckId: Nullable(Type.String()),
    registeredAt: Instant,
    leadMs: Nullable(Type.Integer({ description: 'registration to delivery, once delivered' })),
    departure: Nullable(Departure),
  },
  { title: 'ShipmentReview' },
)
export type ShipmentReview = Static<typeof ShipmentReview>

// The page's words, chart numbers and session.
const StateNumbersSchema = Type.Object({
  count: Type.Integer(),
  dwell: Type.String(),
  stuck: Type.Integer(),
  rejections: Type.Integer(),
  refused: Type.Array(Type.Object({ command: Type.String(), reason: Type.String(), count: Type.Integer() })),
})
const ChartNumbersSchema = Type.Object({
  machine: Type.String(),
  states: Type.Record(Type.String(), StateNumbersSchema),
  transitions: Type.Record(Type.String(), Type.Object({ count: Type.Integer(), weight: Type.Number() })),
})
export const ChartNumbersResponse = Type.Object(
  { window: WindowEcho, generatedAt: Instant, stuckAfterMs: Type.Integer(), machines: Type.Object({ shipment: ChartNumbersSchema, truck: ChartNumbersSchema }) },
  { title: 'ChartNumbers' },
)
export type ChartNumbersResponse = Static<typeof ChartNumbersResponse>
export const NumbersQuery = Type.Object(
  { ...WindowQuery, stuckAfterMs: Type.Optional(Type.Integer({ minimum: 0, description: 'override the configured stuck threshold' })) },
  { additionalProperties: false },
)

const MachineWordsSchema = Type.Object({
  id: Type.String(),
  version: Type.String(),
  description: Nullable(Type.String()),
  initial: Type.String(),
  states: Type.Record(Type.String(), Type.Object({ label: Type.String(), description: Nullable(Type.String()), type: Type.String(), parent: Nullable(Type.String()) })),
  transitions: Type.Record(
    Type.String(),
    Type.Object({ label: Type.String(), description: Nullable(Type.String()), command: Type.String(), from: Type.String(), to: Type.String(), internal: Type.Boolean() }),
  ),
  commands: Type.Record(Type.String(), Type.String()),
})
export const GlossaryResponse = Type.Object(
  {
    machines: Type.Object({ shipment: MachineWordsSchema, truck: MachineWordsSchema }),
    reasons: Type.Record(Type.String(), Type.String()),
    truckReasons: Type.Record(Type.String(), Type.String(), { description: 'where a truck’s refusal reads differently' }),
    legend: Type.Array(Type.Object({ mark: Type.String(), text: Type.String() })),
    stuckAfterMs: Type.Integer({ description: 'the configured stuck threshold' }),
  },
  { title: 'Glossary' },
)
export type GlossaryResponse = Static<typeof GlossaryResponse>

export const ChartQuery = Type.Object(
  {
    machine: Type.Union([Type.Literal('shipment'), Type.Literal('truck')], { default: 'shipment', description: 'which machine’s chart' }),
    numbers: Type.Boolean({ default: false, description: 'draw the numbers of the window, a legend and a caption (SVG only)' }),
    ...WindowQuery,
    stuckAfterMs: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
)

export const Session = Type.Object(
  {
    deviceId: Type.String(),
    role: Type.Union([Type.Literal('reviewer'), Type.Literal('admin')]),
    expiresAt: Instant,
  },
  { title: 'Session' },
)
export type Session = Static<typeof Session>
