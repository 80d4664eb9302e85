import type { Statement, Transaction } from 'better-sqlite3'
import type { Db } from '../store/database.js'

/**
 * The durable inbox. A command is committed here before its request is answered; the worker takes a
 * partition's pending commands in `seq` order and records each outcome exactly once. A lost,
 * duplicated or reordered queue job therefore cannot lose, duplicate or reorder a command.
 *
 * Intake is group-committed by the worker (`Worker.submit`): the commands that arrived meanwhile are
 * inserted in the same transaction as its next batch of decisions (one fsync for both).
 */
export type CommandStatus = 'pending' | 'accepted' | 'rejected'

export interface CommandMetadata {
  readonly deviceId: string
  readonly operatorId?: string
  readonly scannedAt?: string
  readonly requestId?: string
}

export interface NewCommand {
  readonly commandId: string
  readonly streamId: string
  readonly partition: number
  /** The command itself, `type` included. */
  readonly payload: { readonly type: string } & Readonly<Record<string, unknown>>
  readonly metadata: CommandMetadata
  readonly idempotencyKey: string | null
  readonly requestHash: string | null
  readonly receivedAt: number
}

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
}

export type SubmitResult =
  | { readonly kind: 'new'; readonly command: InboxCommand }
  /** Same idempotency key and same request: the first command, decided or not. */
  | { readonly kind: 'replay'; readonly command: InboxCommand }
  /** Same idempotency key, different request. */
  | { readonly kind: 'conflict'; readonly command: InboxCommand }

export interface Outcome {
  readonly status: 'accepted' | 'rejected'
  /** The machine state the command was decided in (null when not decided by the machine). */
  readonly decidedState: string | null
  readonly reason: string | null
  readonly detail: string | null
  readonly streamVersion: number
  readonly eventPosition: number | null
  readonly decidedAt: number
}

export class OutcomeConflictError extends Error {
  override readonly name = 'OutcomeConflictError'
}

interface CommandRow {
  seq: number
  command_id: string
  stream_id: string
  partition: number
  type: string
  payload: string
  metadata: string
  device_id: string
  idempotency_key: string | null
  request_hash: string | null
  received_at: number
  status: CommandStatus
  reason: string | null
  detail: string | null
  stream_version: number | null
  event_position: number | null
  decided_at: number | null
  attempts: number
}

const columns = `seq, command_id, stream_id, partition, type, payload, metadata, device_id, idempotency_key,
  request_hash, received_at, status, reason, detail, stream_version, event_position, decided_at, attempts`

const undecided = {
  status: 'pending',
  reason: null,
  detail: null,
  streamVersion: null,
  eventPosition: null,
  decidedAt: null,
  attempts: 0,
} as const

/** Where the intake commits commands: the worker that group-commits them, or the writer thread hosting it. */
export interface CommandSink {
  submit(command: NewCommand): Promise<SubmitResult>
}

export class Inbox {
  readonly #insert: Statement
  readonly #byId: Statement
  readonly #byKey: Statement
  readonly #pending: Statement
  readonly #pendingIn: Statement
  readonly #decide: Statement
  readonly #countPending: Statement
  readonly #failed: Statement
  readonly #pendingSeqs: Statement
  readonly #bySeq: Statement
  readonly #submitAll: Transaction<(commands: readonly NewCommand[]) => SubmitResult[]>

  constructor(private readonly db: Db) {
    this.#insert = db.prepare(
      `INSERT INTO commands (command_id, stream_id, partition, type, payload, metadata, device_id, idempotency_key, request_hash, received_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    )
    this.#byId = db.prepare(`SELECT ${columns} FROM commands WHERE command_id = ?`)
    this.#byKey = db.prepare(`SELECT ${columns} FROM commands WHERE device_id = ? AND idempotency_key = ?`)
    const notParked = 'NOT EXISTS (SELECT 1 FROM parked WHERE parked.stream_id = commands.stream_id)'
    this.#pending = db.prepare(`SELECT ${columns} FROM commands WHERE status = 'pending' AND ${notParked} ORDER BY seq LIMIT ?`)
    this.#pendingIn = db.prepare(
      `SELECT ${columns} FROM commands WHERE status = 'pending'
       AND partition IN (SELECT value FROM json_each(?)) AND ${notParked} ORDER BY seq LIMIT ?`,
    )
    this.#pendingSeqs = db.prepare(`SELECT seq FROM commands WHERE status = 'pending' AND ${notParked} ORDER BY seq LIMIT ?`).pluck()
    this.#bySeq = db.prepare(`SELECT ${columns} FROM commands WHERE seq = ?`)
    this.#failed = db.prepare('UPDATE commands SET attempts = attempts + 1, last_error = ? WHERE command_id = ? RETURNING attempts').pluck()
    this.#decide = db.prepare(
      `UPDATE commands SET status = ?, reason = ?, detail = ?, stream_version = ?, event_position = ?, decided_at = ?, decided_state = ?
       WHERE seq = ? AND status = 'pending'`,
    )
    this.#countPending = db.prepare(`SELECT count(*) FROM commands WHERE status = 'pending'`).pluck()
    this.#submitAll = db.transaction((commands: readonly NewCommand[]) => commands.map((c) => this.#submitOne(c)))
  }

  /**
   * Records commands (or finds the ones their idempotency keys already name), in order. Call inside
   * the caller's write transaction.
   */
  insertAll(commands: readonly NewCommand[]): SubmitResult[] {
    return commands.map((command) => this.#submitOne(command))
  }

  /** Records commands in a transaction of their own. */
  submitNow(...commands: NewCommand[]): SubmitResult[] {
    return this.#submitAll.immediate(commands)
  }

  #submitOne(command: NewCommand): SubmitResult {
    const inserted = this.#insert.run(
      command.commandId,
      command.streamId,
      command.partition,
      command.payload.type,
      JSON.stringify(command.payload),
      JSON.stringify(command.metadata),
      command.metadata.deviceId,
      command.idempotencyKey,
      command.requestHash,
      command.receivedAt,
    )
    if (inserted.changes === 1) return { kind: 'new', command: { ...command, seq: Number(inserted.lastInsertRowid), type: command.payload.type, ...undecided } }
    const existing = command.idempotencyKey === null ? undefined : this.byIdempotencyKey(command.metadata.deviceId, command.idempotencyKey)
    if (!existing) {
      // The command id itself was taken: ids are generated by the server, so this is a replayed submit.
      const same = this.get(command.commandId)
      if (!same) throw new Error(`commands: insert of ${command.commandId} ignored without a conflicting row`)
      return { kind: 'replay', command: same }
    }
    return { kind: existing.requestHash === command.requestHash ? 'replay' : 'conflict', command: existing }
  }

  get(commandId: string): InboxCommand | undefined {
    const row = this.#byId.get(commandId) as CommandRow | undefined
    return row && toCommand(row)
  }

  byIdempotencyKey(deviceId: string, key: string): InboxCommand | undefined {
    const row = this.#byKey.get(deviceId, key) as CommandRow | undefined
    return row && toCommand(row)
  }

  /**
   * The arrival numbers (`seq`) of pending commands, like `pending` but without reading the rows: a
   * worker that has the command objects in hand (it just inserted them) fetches only the others.
   */
  pendingSeqs(limit: number): number[] {
    return this.#pendingSeqs.all(limit) as number[]
  }

  bySeq(seq: number): InboxCommand | undefined {
    const row = this.#bySeq.get(seq) as CommandRow | undefined
    return row && toCommand(row)
  }

  /** Pending commands in arrival order, of the given partitions (all when omitted), parked shipments left out. */
  pending(limit: number, partitions?: readonly number[]): InboxCommand[] {
    const rows = (partitions ? this.#pendingIn.all(JSON.stringify(partitions), limit) : this.#pending.all(limit)) as CommandRow[]
    return rows.map(toCommand)
  }

  /** Counts a failed attempt at deciding the command (its own transaction); returns the attempts so far. */
  recordFailure(commandId: string, error: string): number {
    return this.#failed.get(error.slice(0, 1000), commandId) as number
  }

  /**
   * Moves undecided commands to the partition `partitionOf` gives them now (after WAYBILL_PARTITIONS
   * changed: a row left on a partition that no longer exists would never be decided). Returns how
   * many moved. Arrival order (`seq`) is untouched.
   */
  repartitionPending(partitionOf: (streamId: string) => number): number {
    const rows = this.db.prepare(`SELECT DISTINCT stream_id, partition FROM commands WHERE status = 'pending'`).all() as Array<{ stream_id: string; partition: number }>
    const move = this.db.prepare(`UPDATE commands SET partition = ? WHERE stream_id = ? AND status = 'pending'`)
    return this.db.transaction(() => {
      let moved = 0
      for (const row of rows) {
        const partition = partitionOf(row.stream_id)
        if (partition !== row.partition) moved += move.run(partition, row.stream_id).changes
      }
      return moved
    }).immediate()
  }

  countPending(): number {
    return this.#countPending.get() as number
  }

  /** Records the outcome; throws if the command was already decided. Call inside the write transaction. */
  recordOutcome(command: { readonly seq: number; readonly commandId: string }, outcome: Outcome): void {
    const { changes } = this.#decide.run(
      outcome.status,
      outcome.reason,
      outcome.detail,
      outcome.streamVersion,
      outcome.eventPosition,
      outcome.decidedAt,
      outcome.decidedState,
      command.seq,
    )
    if (changes !== 1) throw new OutcomeConflictError(`command ${command.commandId} was already decided`)
  }
}

function toCommand(row: CommandRow): InboxCommand {
  const metadata = JSON.parse(row.metadata) as CommandMetadata
  return {
    seq: row.seq,
    commandId: row.command_id,
    streamId: row.stream_id,
    partition: row.partition,
    type: row.type,
    payload: JSON.parse(row.payload),
    metadata,
    idempotencyKey: row.idempotency_key,
    requestHash: row.request_hash,
    receivedAt: row.received_at,
    status: row.status,
    reason: row.reason,
    detail: row.detail,
    streamVersion: row.stream_version,
    eventPosition: row.event_position,
    decidedAt: row.decided_at,
    attempts: row.attempts,
  }
}
