import type { Sql } from './sql.js'

/**
 * The dead-letter side of the inbox. A stream is parked when its oldest pending command failed for an
 * infrastructure reason `maxAttempts` times in a row; the decision layer then leaves the stream's
 * commands alone (in order) while every other stream keeps flowing, and an admin decides: `retry`
 * (unpark, attempts reset) or `discard` (the command becomes a rejection with reason `discarded`, the
 * rest of the stream's commands flow again).
 */
export interface ParkedStream {
  readonly streamId: string
  readonly commandId: string
  readonly type: string
  readonly error: string
  readonly attempts: number
  readonly parkedAt: string
  /** Pending commands of the stream, the parked one included. */
  readonly waiting: number
}

interface Row {
  stream_id: string
  command_id: string
  seq: number
  type: string
  error: string
  attempts: number
  parked_at: number
  waiting: number
}

const select = `SELECT p.stream_id, p.command_id, c.seq, c.type, p.error, p.attempts, p.parked_at,
  (SELECT count(*) FROM commands w WHERE w.stream_id = p.stream_id AND w.status = 'pending') AS waiting
  FROM parked p JOIN commands c ON c.command_id = p.command_id`

function toParked(row: Row): ParkedStream {
  return {
    streamId: row.stream_id,
    commandId: row.command_id,
    type: row.type,
    error: row.error,
    attempts: row.attempts,
    parkedAt: new Date(row.parked_at).toISOString(),
    waiting: row.waiting,
  }
}

export class Parking {
  constructor(private readonly sql: Sql) {}

  async park(streamId: string, commandId: string, error: string, attempts: number, now: number): Promise<void> {
    await this.sql.write((tx) =>
      tx.run(
        `INSERT INTO parked (stream_id, command_id, error, attempts, parked_at) VALUES (@stream, @command, @error, @attempts, @now)
         ON CONFLICT (stream_id) DO NOTHING`,
        { stream: streamId, command: commandId, error: error.slice(0, 1000), attempts, now },
      ),
    )
  }

  async list(): Promise<ParkedStream[]> {
    return (await this.sql.all<Row>(`${select} ORDER BY p.parked_at, p.stream_id`)).map(toParked)
  }

  async get(streamId: string): Promise<ParkedStream | undefined> {
    const row = await this.sql.get<Row>(`${select} WHERE p.stream_id = @stream`, { stream: streamId })
    return row && toParked(row)
  }

  async count(): Promise<number> {
    return (await this.sql.get<{ n: number }>('SELECT count(*) AS n FROM parked'))!.n
  }

  /** Unparks the stream; its command will be tried again (attempts start over). */
  retry(streamId: string): Promise<ParkedStream | undefined> {
    return this.sql.write(async (tx) => {
      const row = await tx.get<Row>(`${select} WHERE p.stream_id = @stream`, { stream: streamId })
      if (!row) return undefined
      await tx.run('UPDATE commands SET attempts = 0 WHERE command_id = @id', { id: row.command_id })
      await tx.run('DELETE FROM parked WHERE stream_id = @stream', { stream: streamId })
      return toParked(row)
    })
  }

  /** Rejects the parked command (reason `discarded`) and unparks the stream. */
  discard(streamId: string, by: string, now: number): Promise<ParkedStream | undefined> {
    return this.sql.write(async (tx) => {
      const row = await tx.get<Row>(`${select} WHERE p.stream_id = @stream`, { stream: streamId })
      if (!row) return undefined
      const version = (await tx.get<{ v: number | null }>('SELECT max(version) AS v FROM events WHERE stream_id = @stream', { stream: streamId }))?.v ?? 0
      // By reference only: a parked command may be one whose stored payload does not pass its schema.
      const changed = await tx.run(
        `UPDATE commands SET status = 'rejected', reason = 'discarded', detail = @detail, stream_version = @version, decided_at = @now
         WHERE seq = @seq AND status = 'pending'`,
        { detail: `discarded by ${by} after ${row.attempts} failed attempts: ${row.error}`, version, now, seq: row.seq },
      )
      if (changed !== 1) throw new Error(`command ${row.command_id} was already decided`)
      await tx.run('DELETE FROM waits WHERE stream_id = @stream AND command_id = @id', { stream: streamId, id: row.command_id })
      await tx.run('DELETE FROM parked WHERE stream_id = @stream', { stream: streamId })
      return toParked(row)
    })
  }
}
