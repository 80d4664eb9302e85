import { allowedIn, type CommandType } from '../../machines/shipment/index.js'
import { shipmentView, type ShipmentFacts, type ShipmentView } from '../projections/shipments.js'

/**
 * What a decided command answers. Built by the worker right after its commit, and rebuilt from the log
 * for idempotent replays and `GET /commands/{id}`: both paths go through this one function, so a replay
 * answers byte for byte what the first request got.
 */
export interface CommandReport {
  readonly commandId: string
  readonly shipmentId: string
  readonly type: string
  readonly outcome: 'accepted' | 'rejected'
  readonly reason: string | null
  readonly detail: string | null
  /** The shipment after the command (accepted) or when it was refused; null if it did not exist. */
  readonly shipment: ShipmentView | null
  readonly allowed: readonly CommandType[]
  readonly event: EventSummary | null
}

export interface EventSummary {
  readonly type: string
  readonly version: number
  readonly position: number
  readonly recordedAt: string
}

/** The report's identity and outcome, plus the facts its shipment and event are shown from. */
export interface ReportInput extends Omit<CommandReport, 'shipment' | 'allowed' | 'event'> {
  readonly facts: ShipmentFacts | null
  readonly event: { readonly type: string; readonly version: number; readonly position: number; readonly recordedAt: number } | null
}

export function commandReport(input: ReportInput): CommandReport {
  return {
    commandId: input.commandId,
    shipmentId: input.shipmentId,
    type: input.type,
    outcome: input.outcome,
    reason: input.reason,
    detail: input.detail,
    shipment: input.facts && shipmentView(input.facts),
    allowed: input.facts ? allowedIn(input.facts.state) : allowedIn('unregistered'),
    event: input.event && {
      type: input.event.type,
      version: input.event.version,
      position: input.event.position,
      recordedAt: new Date(input.event.recordedAt).toISOString(),
    },
  }
}
