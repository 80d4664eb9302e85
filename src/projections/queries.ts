import type { Statement } from 'better-sqlite3'
import type { StateName } from '../../machines/shipment/index.js'
import type { InboxCommand } from '../inbox/inbox.js'
import type { Db } from '../store/database.js'
import type { EventStore, StoredEvent } from '../store/event-store.js'
import { actorFacts, hydrateUntil } from '../worker/actor.js'
import { commandReport, type CommandReport } from '../worker/report.js'
import { shipmentFactsOfRow, shipmentView, type ShipmentRow, type ShipmentView } from './shipments.js'

/**
 * Reads for the API: current shipments from the read model, history (time travel, events, reports of
 * decided commands) from the log. Read-only: nothing here writes.
 */
export interface ApiEvent {
  readonly position: number
  readonly shipmentId: string
  readonly version: number
  readonly type: string
  readonly data: unknown
  readonly metadata: Readonly<Record<string, unknown>>
  readonly recordedAt: string
}

export interface ShipmentFilter {
  readonly state?: StateName
  readonly truckId?: string
  readonly limit: number
  /** The last shipment id of the previous page. */
  readonly after?: string
}

export function apiEvent(event: StoredEvent): ApiEvent {
  return {
    position: event.position,
    shipmentId: event.streamId,
    version: event.version,
    type: event.type,
    data: event.data,
    metadata: event.metadata,
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
}

export class ShipmentQueries {
  readonly #byId: Statement
  readonly #list: Statement
  readonly #eventAt: Statement
  readonly #timeline: Statement

  constructor(
    db: Db,
    private readonly store: EventStore,
  ) {
    this.#byId = db.prepare('SELECT * FROM shipments WHERE shipment_id = ?')
    this.#list = db.prepare(
      `SELECT * FROM shipments
       WHERE (@state IS NULL OR state = @state) AND (@truckId IS NULL OR truck_id = @truckId) AND shipment_id > @after
       ORDER BY shipment_id LIMIT @limit`,
    )
    this.#eventAt = db.prepare('SELECT type, version, position, recorded_at AS recordedAt FROM events WHERE position = ?')
    this.#timeline = db.prepare(
      `SELECT command_id, type, payload, metadata, status, reason, detail, decided_state, stream_version, event_position, received_at, decided_at
       FROM commands WHERE stream_id = ? ORDER BY seq LIMIT ?`,
    )
  }

  /** Every command sent to the shipment, in arrival order, with its outcome (the reviewer's timeline). */
  timeline(shipmentId: string, limit = 1000): TimelineCommand[] {
    type Row = {
      command_id: string; type: string; payload: string; metadata: string; status: 'pending' | 'accepted' | 'rejected'; reason: string | null; detail: string | null
      decided_state: string | null; stream_version: number | null; event_position: number | null; received_at: number; decided_at: number | null
    }
    return (this.#timeline.all(shipmentId, limit) as Row[]).map((r) => {
      const { type: _type, ...command } = JSON.parse(r.payload) as Record<string, unknown>
      const metadata = JSON.parse(r.metadata) as { deviceId: string; operatorId?: string; scannedAt?: string }
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
      }
    })
  }

  get(shipmentId: string): ShipmentView | undefined {
    const row = this.#byId.get(shipmentId) as ShipmentRow | undefined
    return row && shipmentView(shipmentFactsOfRow(row))
  }

  /** Time travel: the shipment after its `version`-th event and/or as it was at `at` (epoch ms). */
  at(shipmentId: string, until: { version?: number; at?: number }): ShipmentView | undefined {
    const facts = actorFacts(shipmentId, hydrateUntil(this.store, shipmentId, until))
    return facts ? shipmentView(facts) : undefined
  }

  list(filter: ShipmentFilter): { items: ShipmentView[]; next: string | null } {
    const rows = this.#list.all({
      state: filter.state ?? null,
      truckId: filter.truckId ?? null,
      after: filter.after ?? '',
      limit: filter.limit + 1,
    }) as ShipmentRow[]
    const page = rows.slice(0, filter.limit)
    return {
      items: page.map((row) => shipmentView(shipmentFactsOfRow(row))),
      next: rows.length > filter.limit ? page[page.length - 1]!.shipment_id : null,
    }
  }

  events(shipmentId: string): ApiEvent[] {
    return this.store.readStream(shipmentId).map(apiEvent)
  }

  lastPosition(): number {
    return this.store.lastPosition()
  }

  feed(afterPosition: number, limit: number): { events: ApiEvent[]; last: number } {
    const events = this.store.readAll(afterPosition, limit).map(apiEvent)
    return { events, last: events.length ? events[events.length - 1]!.position : afterPosition }
  }

  /** The report of a decided command, rebuilt from the log exactly as the worker first built it. */
  report(command: InboxCommand): CommandReport | undefined {
    if (command.status === 'pending' || command.streamVersion === null) return undefined
    const actor = hydrateUntil(this.store, command.streamId, { version: command.streamVersion })
    const event =
      command.eventPosition === null
        ? null
        : (this.#eventAt.get(command.eventPosition) as { type: string; version: number; position: number; recordedAt: number })
    return commandReport({
      commandId: command.commandId,
      shipmentId: command.streamId,
      type: command.type,
      outcome: command.status,
      reason: command.reason,
      detail: command.detail,
      facts: actorFacts(command.streamId, actor),
      event,
    })
  }
}
