import type { Sql } from './sql.js'

/**
 * Fencing epochs: each new owner of a partition bumps its epoch; every decision cycle checks the epoch
 * it was granted inside its write transaction (`fence`, see cycle.ts). A paused ex-owner (GC, SIGSTOP,
 * lost lease) therefore cannot write once another owner has claimed the partition, whatever Redis says.
 */
export class PartitionEpochs {
  constructor(private readonly sql: Sql) {}

  /** Takes the partition: a new epoch that supersedes every earlier holder's. */
  claim(partition: number, owner: string, now: number): Promise<number> {
    return this.sql.write(async (tx) => {
      const row = await tx.get<{ epoch: number }>(
        `INSERT INTO partitions (partition, epoch, owner, acquired_at) VALUES (@partition, 1, @owner, @now)
         ON CONFLICT (partition) DO UPDATE SET epoch = partitions.epoch + 1, owner = excluded.owner, acquired_at = excluded.acquired_at
         RETURNING epoch`,
        { partition, owner, now },
      )
      return row!.epoch
    })
  }

  async current(partition: number): Promise<number> {
    return (await this.sql.get<{ epoch: number }>('SELECT epoch FROM partitions WHERE partition = @partition', { partition }))?.epoch ?? 0
  }

  /** Every partition's epoch and owner (operations: doctor, tests). */
  all(): Promise<Array<{ partition: number; epoch: number; owner: string | null }>> {
    return this.sql.all('SELECT partition, epoch, owner FROM partitions ORDER BY partition')
  }
}
