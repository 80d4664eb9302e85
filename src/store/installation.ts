import { randomBytes } from 'node:crypto'
import type { Sql } from './sql.js'

/**
 * The installation's identity, kept in its database: `id` names its Redis key namespace (two
 * installations on one Redis never touch each other's queues, leases or channels), `partitions` is
 * the partition count its processes run with (a process with another count is refused while any of
 * them is live), and `generation` names the timeline of its event positions: a database restored from
 * a backup (or a copy) starts a new generation on its first start, so a feed consumer resuming from a
 * position of another generation is told so instead of silently skipping events.
 */

/**
 * How far a restored copy's positions jump: further than the original could have written after the
 * backup (2^32 events), so a position is never handed out twice; 2^53 leaves room for a million restores.
 */
export const restoreJump = 2 ** 32

export interface FeedGap {
  readonly afterPosition: number
  readonly resumesAt: number
  readonly generation: string
}

export interface InstallationInfo {
  readonly id: string
  readonly generation: string
  /** The partition count recorded by the last process that started (null: never started). */
  readonly partitions: number | null
}

export class Installation {
  constructor(private readonly sql: Sql) {}

  async info(): Promise<InstallationInfo> {
    return (await this.sql.get<InstallationInfo>('SELECT id, generation, partitions FROM installation WHERE singleton = 1'))!
  }

  /** The Redis key prefix of this installation (bee-queue queues, leases, heartbeats, channels). */
  async keyPrefix(): Promise<string> {
    return `waybill:${(await this.info()).id}`
  }

  async recordPartitions(partitions: number): Promise<void> {
    await this.sql.write((tx) => tx.run('UPDATE installation SET partitions = @partitions WHERE singleton = 1', { partitions }))
  }

  /**
   * A service starts. On a marked copy (a restored backup) this begins a new generation: the next
   * event position jumps past anything the original may have handed out after the backup, and the gap
   * is recorded, so a feed consumer resuming inside it is told (409) instead of skipping events.
   */
  beginServing(now: number): Promise<FeedGap | null> {
    return this.sql.write(async (tx) => {
      const marked = (await tx.get<{ renew: number }>('SELECT renew_generation AS renew FROM installation WHERE singleton = 1'))?.renew === 1
      if (!marked) return null
      const generation = randomBytes(4).toString('hex')
      const head = await sequenceHead(tx)
      const resumesAt = head + restoreJump + 1
      if (tx.dialect === 'sqlite') {
        await tx.run(`INSERT INTO sqlite_sequence (name, seq) SELECT 'events', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events')`)
        await tx.run(`UPDATE sqlite_sequence SET seq = @seq WHERE name = 'events'`, { seq: resumesAt - 1 })
      } else {
        await tx.get(`SELECT setval(pg_get_serial_sequence('events', 'position'), @seq) AS s`, { seq: resumesAt - 1 })
      }
      await tx.run('INSERT INTO feed_gaps (after_position, resumes_at, generation, created_at) VALUES (@head, @resumesAt, @generation, @now)', { head, resumesAt, generation, now })
      await tx.run('UPDATE installation SET generation = @generation, renew_generation = 0 WHERE singleton = 1', { generation })
      return { afterPosition: head, resumesAt, generation }
    })
  }

  /**
   * Why a feed consumer may not resume after `after` (undefined: it may): a position beyond the head
   * was never handed out here (the database was restored or replaced), and one inside a restore's gap
   * belongs to a timeline this installation no longer has.
   */
  async resumeProblem(after: number, head: number): Promise<{ detail: string; resumeAfter: number } | undefined> {
    const gap = await this.sql.get<FeedGap>(
      'SELECT after_position AS "afterPosition", resumes_at AS "resumesAt", generation FROM feed_gaps WHERE after_position < @after AND resumes_at > @after ORDER BY after_position DESC LIMIT 1',
      { after },
    )
    if (gap) {
      return {
        resumeAfter: gap.afterPosition,
        detail: `position ${after} is not in this installation's feed: the database was restored from a backup taken at position ${gap.afterPosition} (generation ${gap.generation}); events you hold after ${gap.afterPosition} are no longer in the log: resume after ${gap.afterPosition}`,
      }
    }
    if (after > head) {
      return {
        resumeAfter: head,
        detail: `position ${after} is beyond the head of this installation's feed (${head}): the database was restored or replaced; events you hold after ${head} are not in this log: resume after ${head}`,
      }
    }
    return undefined
  }

  /** A new identity (a copy that is to run as a second installation beside the original). */
  async renewId(): Promise<string> {
    const id = randomBytes(6).toString('hex')
    await this.sql.write((tx) => tx.run('UPDATE installation SET id = @id, partitions = NULL WHERE singleton = 1', { id }))
    return id
  }
}

/** The highest position handed out so far (the sequence, which may be past the last event). */
async function sequenceHead(tx: Sql): Promise<number> {
  const last = (await tx.get<{ last: number | null }>('SELECT max(position) AS last FROM events'))?.last ?? 0
  if (tx.dialect === 'sqlite') {
    const seq = (await tx.get<{ seq: number }>(`SELECT seq FROM sqlite_sequence WHERE name = 'events'`))?.seq ?? 0
    return Math.max(seq, last)
  }
  const row = await tx.get<{ last_value: number; is_called: boolean }>(`SELECT last_value, is_called FROM events_position_seq`)
  return Math.max(row?.is_called ? row.last_value : 0, last)
}
