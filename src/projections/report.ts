import { idOfStream, isAnyCommandType, isAnyEventType, isInboxType, type AnyCommandType, type AnyEventType, type InboxType } from '../../machines/kinds.js'
import type { Actor } from './actors.js'
import { viewOf, type AggregateView } from './views.js'

/**
 * What a decided command answers. Built by the decision cycle right after its commit, and rebuilt
 * from the log for idempotent replays and `GET /commands/{id}`: both paths go through this one
 * function, so a replay answers byte for byte what the first request got.
 */
export interface CommandReport {
  readonly commandId: string
  readonly streamId: string
  /** `shipment` or `truck` (the aggregate kind of the stream). */
  readonly kind: string
  /** The shipment's or truck's id. */
  readonly subjectId: string
  /** A scanner's command type, or (a message between actors) the message's. */
  readonly type: InboxType
  readonly outcome: 'accepted' | 'rejected'
  readonly reason: string | null
  readonly detail: string | null
  /** The aggregate after the command (accepted) or when it was refused; null if it did not exist. */
  readonly view: AggregateView | null
  readonly allowed: readonly AnyCommandType[]
  readonly event: EventSummary | null
  /** Refused, and scanned before the stream's last accepted change (overtaken while its device was offline). */
  readonly late: boolean
}

export interface EventSummary {
  readonly type: AnyEventType
  readonly version: number
  readonly position: number
  readonly recordedAt: string
}

export interface ReportInput {
  readonly commandId: string
  readonly streamId: string
  readonly type: string
  readonly outcome: 'accepted' | 'rejected'
  readonly reason: string | null
  readonly detail: string | null
  /** The aggregate after the command, or when it was refused. */
  readonly actor: Actor
  readonly event: { readonly type: string; readonly version: number; readonly position: number; readonly recordedAt: number } | null
  readonly late: boolean
}

/**
 * The log and the inbox hold only the machines' types: anything else is a damaged row, said as such
 * (never passed on to a client as if it were a type of the contract).
 */
export function commandTypeOf(type: string, commandId: string): InboxType {
  if (!isInboxType(type)) throw new Error(`command ${commandId} has type ${JSON.stringify(type)}, not a command of any machine`)
  return type
}

export function eventTypeOf(type: string, position: number): AnyEventType {
  if (!isAnyEventType(type)) throw new Error(`event at position ${position} has type ${JSON.stringify(type)}, not an event of any machine`)
  return type
}

export function commandReport(input: ReportInput): CommandReport {
  const { actor } = input
  return {
    commandId: input.commandId,
    streamId: input.streamId,
    kind: actor.kind.name,
    subjectId: idOfStream(input.streamId),
    type: commandTypeOf(input.type, input.commandId),
    outcome: input.outcome,
    reason: input.reason,
    detail: input.detail,
    view: viewOf(input.streamId, actor),
    allowed: actor.kind.allowed(actor.snapshot).filter(isAnyCommandType),
    event: input.event && {
      type: eventTypeOf(input.event.type, input.event.position),
      version: input.event.version,
      position: input.event.position,
      recordedAt: new Date(input.event.recordedAt).toISOString(),
    },
    late: input.late,
  }
}
