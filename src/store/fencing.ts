import type { Statement } from 'better-sqlite3'
import type { Db } from './database.js'

/**
 * Fencing epochs: each new owner of a partition bumps its epoch; every write transaction checks the
 * epoch it was granted. A paused ex-owner (GC, SIGSTOP, lost lease) therefore cannot write once
 * another owner has claimed the partition, whatever Redis says.
 */
export class FencedError extends Error {
  override readonly name = 'FencedError'
  constructor(
    readonly partition: number,
    readonly heldEpoch: number,
    readonly currentEpoch: number,
  ) {
    super(`partition ${partition}: epoch ${heldEpoch} was superseded by ${currentEpoch}`)
  }
}

export class PartitionEpochs {
  readonly #claim: Statement
  readonly #current: Statement

  constructor(private readonly db: Db) {
    this.#claim = db.prepare(
      `INSERT INTO partitions (partition, epoch, owner, acquired_at) VALUES (?, 1, ?, ?)
       ON CONFLICT (partition) DO UPDATE SET epoch = epoch + 1, owner = excluded.owner, acquired_at = excluded.acquired_at
       RETURNING epoch`,
    ).pluck()
    this.#current = db.prepare('SELECT epoch FROM partitions WHERE partition = ?').pluck()
  }

  /** Takes the partition: a new epoch that supersedes every earlier holder's. */
  claim(partition: number, owner: string, now: number): number {
    return this.db.transaction(() => this.#claim.get(partition, owner, now) as number).immediate()
  }

  current(partition: number): number {
    return (this.#current.get(partition) as number | undefined) ?? 0
  }

  /** Throws FencedError unless `epoch` is still the partition's. Call inside the write transaction. */
  assertHeld(partition: number, epoch: number): void {
    const current = this.current(partition)
    if (current !== epoch) throw new FencedError(partition, epoch, current)
  }
}
