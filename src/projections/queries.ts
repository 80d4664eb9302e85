import { idOfStream, kindOfStream, type AnyEventType } from '../../machines/kinds.js'
import type { StateName } from '../../machines/shipment/index.js'
import type { Store } from '../store/store.js'
import type { InboxCommand, StoredEvent } from '../store/types.js'
import { hydrateUntil } from './actors.js'
import { commandReport, eventTypeOf, type CommandReport, type EventSummary } from './report.js'
import { shipmentFacts, shipmentFactsOfRow, shipmentView, type ShipmentRow, type ShipmentView } from './shipments.js'

/**
 * Reads for the API: current shipments from the read model, history (time travel, events, reports of
 * decided commands) from the log. Read-only: nothing here writes.
 */
export interface ApiEvent {
  readonly position: number
  readonly streamType: 'shipment' | 'truck'
  /** On a shipment's event. */
  readonly shipmentId?: string
  /** On a truck's event. */
  readonly truckId?: string
  readonly version: number
  readonly type: AnyEventType
  readonly data: Readonly<Record<string, unknown>>
  readonly metadata: ApiEventMetadata
  readonly recordedAt: string
}

/** docs/api.md `Event.metadata`: who, where, when, under which machine version (more keys may follow). */
export interface ApiEventMetadata {
  readonly commandId: string
  readonly machineVersion: string
  readonly [key: string]: unknown
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** `streamType` and the aggregate's own id, named as the API names it (`shipmentId` or `truckId`). */
export function subjectOf(streamId: string): { streamType: 'shipment'; shipmentId: string } | { streamType: 'truck'; truckId: string } {
  return kindOfStream(streamId).name === 'truck' ? { streamType: 'truck', truckId: idOfStream(streamId) } : { streamType: 'shipment', shipmentId: streamId }
}

export interface ShipmentFilter {
  readonly state?: StateName
  readonly truckId?: string
  readonly limit: number
  /** The last shipment id of the previous page. */
  readonly after?: string
}

/**
 * A stored event in its API shape. Checked, not cast: events are written by the worker (always with
 * these fields) or `events import`; one without them breaks the contract and is named here rather
 * than failing in the serializer.
 */
export function apiEvent(event: StoredEvent): ApiEvent {
  const { data, metadata } = event
  if (!isRecord(data)) throw new Error(`event at position ${event.position}: data is not an object`)
  if (typeof metadata.commandId !== 'string' || typeof metadata.machineVersion !== 'string') {
    throw new Error(`event at position ${event.position}: metadata lacks commandId or machineVersion`)
  }
  return {
    position: event.position,
    ...subjectOf(event.streamId),
    version: event.version,
    type: eventTypeOf(event.type, event.position),
    data,
    metadata: { ...metadata, commandId: metadata.commandId, machineVersion: metadata.machineVersion },
    recordedAt: new Date(event.recordedAt).toISOString(),
  }
}

/** A command on a shipment's timeline: accepted or rejected (or still queued), who sent it, when. */
export interface TimelineCommand {
  readonly commandId: string
  readonly type: string
  readonly command: Readonly<Record<string, unknown>>
  readonly outcome: 'queued' | 'accepted' | 'rejected'
  readonly reason: string | null
  readonly detail: string | null
  readonly state: string | null
  readonly version: number | null
  readonly position: number | null
  readonly deviceId: string
  readonly operatorId: string | null
  readonly scannedAt: string | null
  readonly receivedAt: string
  readonly decidedAt: string | null
  /** Refused, and scanned before the shipment's last accepted change (overtaken while offline). */
  readonly late: boolean
  /** Sent by another actor (a truck's answer, its departure), not by a scanner. */
  readonly message: boolean
}

/** Most events or timeline commands in one page (docs/api.md: default and most 1000). */
export const pageLimit = 1000

interface TimelineRow {
  command_id: string; type: string; payload: string; metadata: string; status: 'pending' | 'accepted' | 'rejected'; reason: string | null; detail: string | null
  decided_state: string | null; stream_version: number | null; event_position: number | null; received_at: number; decided_at: number | null; late: number
}

function timelineCommand(r: TimelineRow): TimelineCommand {
  const { type: _type, ...command } = JSON.parse(r.payload) as Record<string, unknown>
  const metadata = JSON.parse(r.metadata) as { deviceId: string; operatorId?: string; scannedAt?: string; origin?: string }
  return {
    commandId: r.command_id,
    type: r.type,
    command,
    outcome: r.status === 'pending' ? 'queued' : r.status,
    reason: r.reason,
    detail: r.detail,
    state: r.decided_state,
    version: r.stream_version,
    position: r.event_position,
    deviceId: metadata.deviceId,
    operatorId: metadata.operatorId ?? null,
    scannedAt: metadata.scannedAt ?? null,
    receivedAt: new Date(r.received_at).toISOString(),
    decidedAt: r.decided_at === null ? null : new Date(r.decided_at).toISOString(),
    late: r.late === 1,
    message: metadata.origin === 'saga',
  }
}

const timelineSql = `SELECT seq, command_id, type, payload, metadata, status, reason, detail, decided_state, stream_version, event_position, received_at, decided_at, late
  FROM commands WHERE stream_id = @id AND seq > @after ORDER BY seq LIMIT @limit`

export class ShipmentQueries {
  constructor(private readonly store: Store) {}

  /** Rows read for the timeline (the bounded-cost tests count them). */
  get timelineRowsRead(): number {
    return this.store.events.reads.timeline
  }

  /**
   * One page of the commands sent to the stream, in arrival order, with their outcomes (the
   * reviewer's timeline): at most `limit` after inbox sequence number `after`; `next` is the `after`
   * of the following page, null on the last one. One seek in commands (stream_id, seq).
   */
  async timeline(streamId: string, page: { after?: number; limit?: number } = {}): Promise<{ commands: TimelineCommand[]; next: number | null }> {
    const limit = page.limit ?? pageLimit
    const rows = await this.store.sql.all<TimelineRow & { seq: number }>(timelineSql, { id: streamId, after: page.after ?? 0, limit: limit + 1 })
    this.store.events.reads.timeline += rows.length
    const shown = rows.slice(0, limit)
    return { commands: shown.map(timelineCommand), next: rows.length > limit ? shown[shown.length - 1]!.seq : null }
  }

  async get(shipmentId: string): Promise<ShipmentView | undefined> {
    const row = await this.store.sql.get<ShipmentRow>('SELECT * FROM shipments WHERE shipment_id = @id', { id: shipmentId })
    return row && shipmentView(shipmentFactsOfRow(row))
  }

  /** Time travel: the shipment after its `version`-th event and/or as it was at `at` (epoch ms). */
  async at(shipmentId: string, until: { version?: number; at?: number }): Promise<ShipmentView | undefined> {
    const facts = shipmentFacts(shipmentId, await hydrateUntil(this.store.events, shipmentId, until))
    return facts ? shipmentView(facts) : undefined
  }

  async list(filter: ShipmentFilter): Promise<{ items: ShipmentView[]; next: string | null }> {
    const rows = await this.store.sql.all<ShipmentRow>(
      `SELECT * FROM shipments
       WHERE (CAST(@state AS TEXT) IS NULL OR state = @state) AND (CAST(@truckId AS TEXT) IS NULL OR truck_id = @truckId) AND shipment_id > @after
       ORDER BY shipment_id LIMIT @limit`,
      { state: filter.state ?? null, truckId: filter.truckId ?? null, after: filter.after ?? '', limit: filter.limit + 1 },
    )
    const page = rows.slice(0, filter.limit)
    return {
      items: page.map((row) => shipmentView(shipmentFactsOfRow(row))),
      next: rows.length > filter.limit ? page[page.length - 1]!.shipment_id : null,
    }
  }

  /**
   * One page of the stream's events: at most `limit` after version `after`, `next` the `after` of
   * the following page (null on the last). Undefined for a stream with no events.
   */
  async events(streamId: string, page: { after?: number; limit?: number } = {}): Promise<{ events: ApiEvent[]; next: number | null } | undefined> {
    const limit = page.limit ?? pageLimit
    const rows = await this.store.events.readStreamPage(streamId, page.after ?? 0, limit + 1)
    if (rows.length === 0 && (await this.store.events.streamVersion(streamId)) === 0) return undefined
    const shown = rows.slice(0, limit)
    return { events: shown.map(apiEvent), next: rows.length > limit ? shown[shown.length - 1]!.version : null }
  }

  lastPosition(): Promise<number> {
    return this.store.events.lastPosition()
  }

  /** Why a feed consumer may not resume after this position (see `Installation.resumeProblem`). */
  async resumeProblem(afterPosition: number): Promise<{ detail: string; resumeAfter: number } | undefined> {
    return this.store.installation.resumeProblem(afterPosition, await this.store.events.lastPosition())
  }

  async feed(afterPosition: number, limit: number): Promise<{ events: ApiEvent[]; last: number }> {
    const events = (await this.store.events.readAll(afterPosition, limit)).map(apiEvent)
    return { events, last: events.length ? events[events.length - 1]!.position : afterPosition }
  }

  /** The event a decided command recorded (one key lookup), null if it recorded none. */
  async eventOf(command: InboxCommand): Promise<EventSummary | null> {
    if (command.eventPosition === null) return null
    const event = await this.store.events.at(command.eventPosition)
    if (!event) return null
    return { type: eventTypeOf(event.type, event.position), version: event.version, position: event.position, recordedAt: new Date(event.recordedAt).toISOString() }
  }

  /**
   * The report of a decided command, rebuilt from the log exactly as the decision cycle first built
   * it: the aggregate at the command's version (a checkpoint plus a bounded tail, see `hydrateUntil`).
   */
  async report(command: InboxCommand): Promise<CommandReport | undefined> {
    if (command.status === 'pending' || command.streamVersion === null) return undefined
    const actor = await hydrateUntil(this.store.events, command.streamId, { version: command.streamVersion })
    const event = command.eventPosition === null ? null : ((await this.store.events.at(command.eventPosition)) ?? null)
    return commandReport({
      commandId: command.commandId,
      streamId: command.streamId,
      type: command.type,
      outcome: command.status,
      reason: command.reason,
      detail: command.detail,
      actor,
      event: event && { type: event.type, version: event.version, position: event.position, recordedAt: event.recordedAt },
      late: command.late ?? false,
    })
  }
}
