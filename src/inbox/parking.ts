import type { Statement } from 'better-sqlite3'
import type { Db } from '../store/database.js'
import type { Inbox } from './inbox.js'

/**
 * The dead-letter side of the inbox. A shipment is parked when its oldest pending command failed for
 * an infrastructure reason `maxAttempts` times in a row; the worker then leaves the shipment's
 * commands alone (in order) while every other shipment keeps flowing, and an admin decides:
 * `retry` (unpark, attempts reset) or `discard` (the command becomes a rejection with reason
 * `discarded`, the rest of the shipment's commands flow again).
 */
export interface ParkedShipment {
  readonly shipmentId: string
  readonly commandId: string
  readonly type: string
  readonly error: string
  readonly attempts: number
  readonly parkedAt: string
  /** Pending commands of the shipment, the parked one included. */
  readonly waiting: number
}

export class Parking {
  readonly #park: Statement
  readonly #list: Statement
  readonly #get: Statement
  readonly #unpark: Statement
  readonly #resetAttempts: Statement
  readonly #count: Statement

  constructor(
    private readonly db: Db,
    private readonly inbox: Inbox,
  ) {
    this.#park = db.prepare(
      `INSERT INTO parked (stream_id, command_id, error, attempts, parked_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (stream_id) DO NOTHING`,
    )
    const select = `SELECT p.stream_id, p.command_id, c.type, p.error, p.attempts, p.parked_at,
      (SELECT count(*) FROM commands w WHERE w.stream_id = p.stream_id AND w.status = 'pending') AS waiting
      FROM parked p JOIN commands c ON c.command_id = p.command_id`
    this.#list = db.prepare(`${select} ORDER BY p.parked_at, p.stream_id`)
    this.#get = db.prepare(`${select} WHERE p.stream_id = ?`)
    this.#unpark = db.prepare('DELETE FROM parked WHERE stream_id = ?')
    this.#resetAttempts = db.prepare('UPDATE commands SET attempts = 0 WHERE command_id = ?')
    this.#count = db.prepare('SELECT count(*) FROM parked').pluck()
  }

  park(shipmentId: string, commandId: string, error: string, attempts: number, now: number): void {
    this.#park.run(shipmentId, commandId, error.slice(0, 1000), attempts, now)
  }

  list(): ParkedShipment[] {
    return (this.#list.all() as Row[]).map(toParked)
  }

  get(shipmentId: string): ParkedShipment | undefined {
    const row = this.#get.get(shipmentId) as Row | undefined
    return row && toParked(row)
  }

  count(): number {
    return this.#count.get() as number
  }

  /** Unparks the shipment; its command will be tried again (attempts start over). */
  retry(shipmentId: string): ParkedShipment | undefined {
    return this.db.transaction(() => {
      const parked = this.get(shipmentId)
      if (!parked) return undefined
      this.#resetAttempts.run(parked.commandId)
      this.#unpark.run(shipmentId)
      return parked
    }).immediate()
  }

  /** Rejects the parked command (reason `discarded`) and unparks the shipment. */
  discard(shipmentId: string, by: string, streamVersion: number, now: number): ParkedShipment | undefined {
    return this.db.transaction(() => {
      const parked = this.get(shipmentId)
      if (!parked) return undefined
      this.inbox.recordOutcome(this.inbox.get(parked.commandId)!, {
        status: 'rejected',
        decidedState: null,
        reason: 'discarded',
        detail: `discarded by ${by} after ${parked.attempts} failed attempts: ${parked.error}`,
        streamVersion,
        eventPosition: null,
        decidedAt: now,
      })
      this.#unpark.run(shipmentId)
      return parked
    }).immediate()
  }
}

interface Row {
  stream_id: string
  command_id: string
  type: string
  error: string
  attempts: number
  parked_at: number
  waiting: number
}

function toParked(row: Row): ParkedShipment {
  return {
    shipmentId: row.stream_id,
    commandId: row.command_id,
    type: row.type,
    error: row.error,
    attempts: row.attempts,
    parkedAt: new Date(row.parked_at).toISOString(),
    waiting: row.waiting,
  }
}
