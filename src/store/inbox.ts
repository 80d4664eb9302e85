import { inList, type Sql } from './sql.js'
import type { CommandMetadata, CommandPayload, CommandStatus, InboxCommand, NewCommand } from './types.js'

/**
 * The durable inbox, read side and bookkeeping. A command is committed here before its request is
 * answered (inside a decision cycle: `cycle.ts`); the owner of its partition decides it in `seq`
 * order and records its outcome exactly once. A lost, duplicated or reordered queue job therefore
 * cannot lose, duplicate or reorder a command.
 *
 * Payloads come back as stored JSON: the decision layer checks them against their kind's schema
 * before any machine sees them (a damaged row parks its stream, it never reaches a decision).
 */
export interface CommandRow {
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
  bypass: number
  late: number
  device_seq: number | null
}

export const commandColumns = `seq, command_id, stream_id, partition, type, payload, metadata, device_id, idempotency_key,
  request_hash, received_at, status, reason, detail, stream_version, event_position, decided_at, attempts, bypass, late, device_seq`

/** A stored payload that is not even JSON still becomes a command (its kind's check refuses it). */
function parsePayload(row: Pick<CommandRow, 'payload' | 'type'>): CommandPayload {
  try {
    const value = JSON.parse(row.payload) as unknown
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as CommandPayload) : { type: row.type, invalid: row.payload }
  } catch {
    return { type: row.type, invalid: row.payload }
  }
}

export function toCommand(row: CommandRow): InboxCommand {
  return {
    seq: row.seq,
    commandId: row.command_id,
    streamId: row.stream_id,
    partition: row.partition,
    type: row.type,
    payload: parsePayload(row),
    metadata: JSON.parse(row.metadata) as CommandMetadata,
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
    bypass: row.bypass === 1,
    late: row.late === 1,
    ...(row.device_seq === null ? {} : { deviceSeq: row.device_seq }),
  }
}

/**
 * A command just inserted with `seq`, as `toCommand` would read it back (pending, undecided). Built as
 * one literal with toCommand's fields in toCommand's order: both make objects of one shape. The spread
 * it replaces (the new command plus a dozen more fields) took V8's slow path: 7 KB of garbage and 20 µs
 * per command in a micro-benchmark, and reads of its fields 7× slower after.
 */
export function pendingCommand(command: NewCommand, seq: number): InboxCommand {
  return {
    seq,
    commandId: command.commandId,
    streamId: command.streamId,
    partition: command.partition,
    type: command.payload.type,
    payload: command.payload,
    metadata: command.metadata,
    idempotencyKey: command.idempotencyKey,
    requestHash: command.requestHash,
    receivedAt: command.receivedAt,
    status: 'pending',
    reason: null,
    detail: null,
    streamVersion: null,
    eventPosition: null,
    decidedAt: null,
    attempts: 0,
    bypass: command.bypass ?? false,
    late: false,
    ...(command.deviceSeq === undefined ? {} : { deviceSeq: command.deviceSeq }),
  }
}

/**
 * Which pending commands a decision cycle may take (both adapters): none of a parked stream's, and of
 * a stream waiting for a saga only the ones that may pass (`bypass`).
 */
export const decidableSql = `NOT EXISTS (SELECT 1 FROM parked WHERE parked.stream_id = commands.stream_id)
  AND (bypass = 1 OR NOT EXISTS (SELECT 1 FROM waits WHERE waits.stream_id = commands.stream_id))`

/** Commands the partitions' owners can decide: parked streams' commands wait for an admin, not for capacity. */
const waitingSql = `status = 'pending' AND NOT EXISTS (SELECT 1 FROM parked WHERE parked.stream_id = commands.stream_id)`

export class Inbox {
  constructor(private readonly sql: Sql) {}

  async get(commandId: string): Promise<InboxCommand | undefined> {
    const row = await this.sql.get<CommandRow>(`SELECT ${commandColumns} FROM commands WHERE command_id = @id`, { id: commandId })
    return row && toCommand(row)
  }

  async byIdempotencyKey(deviceId: string, key: string): Promise<InboxCommand | undefined> {
    const row = await this.sql.get<CommandRow>(`SELECT ${commandColumns} FROM commands WHERE device_id = @device AND idempotency_key = @key`, { device: deviceId, key })
    return row && toCommand(row)
  }

  /** The highest arrival number so far (0 for an empty inbox): one index lookup. */
  async lastSeq(): Promise<number> {
    return (await this.sql.get<{ last: number | null }>('SELECT max(seq) AS last FROM commands'))?.last ?? 0
  }

  /** Pending commands a worker can decide (parked streams left out), optionally of some partitions only. */
  async countWaiting(partitions?: readonly number[]): Promise<number> {
    const row = partitions
      ? await this.sql.get<{ n: number }>(`SELECT count(*) AS n FROM commands WHERE ${waitingSql} AND ${inList(this.sql, 'partition', 'partitions')}`, { partitions })
      : await this.sql.get<{ n: number }>(`SELECT count(*) AS n FROM commands WHERE ${waitingSql}`)
    return row!.n
  }

  /** Every undecided command, parked ones included. */
  async countPending(): Promise<number> {
    return (await this.sql.get<{ n: number }>(`SELECT count(*) AS n FROM commands WHERE status = 'pending'`))!.n
  }

  /** When the oldest undecided command (not parked) was received; undefined when none waits. */
  async oldestWaitingAt(): Promise<number | undefined> {
    const row = await this.sql.get<{ at: number }>(`SELECT received_at AS at FROM commands WHERE ${waitingSql} ORDER BY seq LIMIT 1`)
    return row?.at
  }

  /** Undecided commands per partition, with the oldest one's age (metrics). */
  pendingByPartition(): Promise<Array<{ partition: number; n: number; oldest: number }>> {
    return this.sql.all(`SELECT partition, count(*) AS n, min(received_at) AS oldest FROM commands WHERE status = 'pending' GROUP BY partition`)
  }

  /**
   * Pending commands a worker can decide, in arrival order, of the given partitions: parked streams
   * and a waiting stream's commands (unless they may pass) left out. The decision cycle reads its own
   * batch inside its transaction; this read is for the quarantine, which tries them one by one.
   */
  async pending(partitions: readonly number[], limit: number): Promise<InboxCommand[]> {
    const rows = await this.sql.all<CommandRow>(
      `SELECT ${commandColumns} FROM commands WHERE ${waitingSql} AND ${inList(this.sql, 'partition', 'partitions')}
       AND (bypass = 1 OR NOT EXISTS (SELECT 1 FROM waits WHERE waits.stream_id = commands.stream_id)) ORDER BY seq LIMIT @limit`,
      { partitions, limit },
    )
    return rows.map(toCommand)
  }

  /** Counts a failed attempt at deciding the command (its own statement); returns the attempts so far. */
  async recordFailure(commandId: string, error: string): Promise<number> {
    return this.sql.write(async (tx) => {
      await tx.run('UPDATE commands SET attempts = attempts + 1, last_error = @error WHERE command_id = @id', { error: error.slice(0, 1000), id: commandId })
      return (await tx.get<{ attempts: number }>('SELECT attempts FROM commands WHERE command_id = @id', { id: commandId }))?.attempts ?? 0
    })
  }

  /**
   * Moves undecided commands to the partition `partitionOf` gives them now (after WAYBILL_PARTITIONS
   * changed: a row left on a partition that no longer exists would never be decided). Returns how
   * many moved. Arrival order (`seq`) is untouched.
   */
  async repartitionPending(partitionOf: (streamId: string) => number): Promise<number> {
    return this.sql.write(async (tx) => {
      const rows = await tx.all<{ stream_id: string; partition: number }>(`SELECT DISTINCT stream_id, partition FROM commands WHERE status = 'pending'`)
      let moved = 0
      for (const row of rows) {
        const partition = partitionOf(row.stream_id)
        if (partition !== row.partition) moved += await tx.run(`UPDATE commands SET partition = @partition WHERE stream_id = @id AND status = 'pending'`, { partition, id: row.stream_id })
      }
      return moved
    })
  }
}
