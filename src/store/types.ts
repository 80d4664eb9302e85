/**
 * What the store keeps, generic over streams: it knows commands (the inbox, with their outcomes),
 * events, checkpoints and the waits of sagas, never what a shipment or a truck is. A stream id names
 * its aggregate kind by a prefix (`truck:T1`; shipments have none) that only the decision layer reads.
 */
export interface CommandMetadata {
  readonly deviceId: string
  readonly operatorId?: string
  readonly scannedAt?: string
  readonly requestId?: string
  /** A message one actor sent another: the command that caused it. */
  readonly causationId?: string
  /** Set on messages between actors (never on a scanner's command). */
  readonly origin?: 'saga'
}

/** A command's payload as stored: a JSON object with a `type` (checked against its kind when read back). */
export interface CommandPayload {
  readonly type: string
  readonly [field: string]: unknown
}

export interface NewCommand {
  readonly commandId: string
  readonly streamId: string
  readonly partition: number
  readonly payload: CommandPayload
  readonly metadata: CommandMetadata
  readonly idempotencyKey: string | null
  readonly requestHash: string | null
  readonly receivedAt: number
  /**
   * A message that its stream decides even while the stream waits for a saga (a reply to what it
   * waits for, or a request it can always answer). Everything else of a waiting stream waits in order.
   */
  readonly bypass?: boolean
  /** An item of an offline batch: the device's own number for it (unique per device; docs/api.md). */
  readonly deviceSeq?: number
}

export type CommandStatus = 'pending' | 'accepted' | 'rejected'

export interface InboxCommand extends NewCommand {
  readonly seq: number
  readonly type: string
  readonly status: CommandStatus
  readonly reason: string | null
  readonly detail: string | null
  readonly streamVersion: number | null
  readonly eventPosition: number | null
  readonly decidedAt: number | null
  readonly attempts: number
  /** Refused, and scanned before the stream's last accepted change (see Outcome). */
  readonly late?: boolean
}

export type SubmitResult =
  | { readonly kind: 'new'; readonly command: InboxCommand }
  /** Same idempotency key (or device seq) and same request: the first command, decided or not. */
  | { readonly kind: 'replay'; readonly command: InboxCommand }
  /** Same idempotency key (or device seq), different request. */
  | { readonly kind: 'conflict'; readonly command: InboxCommand }
  /** The device seq names an item already refused as malformed (no command: see ../store/devices.ts). */
  | { readonly kind: 'seq-taken'; readonly command?: never }

export interface Outcome {
  readonly status: 'accepted' | 'rejected'
  /** The machine state the command was decided in (null when not decided by the machine). */
  readonly decidedState: string | null
  readonly reason: string | null
  readonly detail: string | null
  readonly streamVersion: number
  readonly eventPosition: number | null
  readonly decidedAt: number
  /**
   * A rejection of a scan made before the stream's last accepted change (its `scannedAt` is older):
   * it was overtaken while the device was offline or slow. Counted per device on the process map.
   */
  readonly late?: boolean
}

export interface NewEvent {
  readonly type: string
  readonly data: unknown
  readonly metadata: Readonly<Record<string, unknown>>
}

export interface StoredEvent {
  readonly position: number
  readonly streamId: string
  readonly version: number
  readonly type: string
  readonly data: unknown
  readonly metadata: Readonly<Record<string, unknown>>
  /** Epoch milliseconds of the commit that recorded the event. */
  readonly recordedAt: number
}

export interface StoredSnapshot {
  readonly version: number
  readonly schema: string
  readonly state: unknown
}

/** An event from outside (`events import`): a stored event before the log gives it a position. */
export type ImportedEvent = Omit<StoredEvent, 'position'>

/** A stream's snapshot, as a decision cycle or an import writes it. */
export interface StreamSnapshot {
  readonly streamId: string
  readonly snapshot: StoredSnapshot
}

/** A saga's wait, kept with its stream: the command it waits for the answer to, and where it is. */
export interface StoredWait {
  readonly commandId: string
  readonly seq: number
  readonly state: unknown
}

/**
 * Rows read from the log and its checkpoints, per kind: what a request costs, counted (the
 * bounded-cost tests assert on these, not on wall time).
 */
export interface ReadCounts {
  events: number
  snapshots: number
  timeline: number
}
