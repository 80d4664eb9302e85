import { inList, type Sql } from './sql.js'

/**
 * What the store knows of each device's own numbering (offline batches, docs/api.md *Offline scanners*).
 * A device numbers its scans 1, 2, 3 …; each (device, seq) names exactly one item, forever: the
 * command it became (`commands.device_seq`) or, for an item refused as malformed, a refusal
 * (`device_refusals`) — a malformed item is answered too, so its seq is not a gap the device should
 * resend. The request hash of each makes a resend recognisable (same hash: the first result) and a
 * reused seq detectable (another hash).
 *
 * `device_sync` keeps, per device, a seq up to which every number is known (a watermark). It only saves
 * reading from 1: it is always at most the truth, so a watermark that lags (a crash before it was
 * moved) costs a longer read, never a wrong answer.
 */
export interface DeviceItem {
  readonly seq: number
  readonly requestHash: string
  /** The command the item became; null for an item refused as malformed. */
  readonly commandId: string | null
  /** Why a malformed item was refused (null for a command). */
  readonly refusal: string | null
}

export interface DeviceSync {
  readonly deviceId: string
  /** Every seq from 1 to this one is known (0: not even seq 1). */
  readonly lastContiguousSeq: number
  readonly highestSeq: number
  /** Ranges of seqs below `highestSeq` the server does not have, `[from, to]` inclusive, ascending. */
  readonly gaps: ReadonlyArray<readonly [number, number]>
  /** When a command (batched or not) or a refused item of the device last arrived; null if never. */
  readonly lastSeenAt: number | null
}

export interface Refusal {
  readonly seq: number
  readonly requestHash: string
  readonly detail: string
}

interface ItemRow {
  seq: number
  request_hash: string
  command_id: string | null
  refusal: string | null
}

const toItem = (row: ItemRow): DeviceItem => ({ seq: Number(row.seq), requestHash: row.request_hash, commandId: row.command_id, refusal: row.refusal })

export class Devices {
  constructor(private readonly sql: Sql) {}

  /** The items of `seqs` the device already sent (its commands and refused items). */
  async items(deviceId: string, seqs: readonly number[]): Promise<Map<number, DeviceItem>> {
    if (seqs.length === 0) return new Map()
    const rows = await this.sql.all<ItemRow>(
      `SELECT device_seq AS seq, request_hash, command_id, NULL AS refusal FROM commands WHERE device_id = @device AND ${inList(this.sql, 'device_seq', 'seqs')}
       UNION ALL
       SELECT seq, request_hash, NULL AS command_id, detail AS refusal FROM device_refusals WHERE device_id = @device AND ${inList(this.sql, 'seq', 'seqs')}`,
      { device: deviceId, seqs },
    )
    return new Map(rows.map((row) => [Number(row.seq), toItem(row)]))
  }

  /**
   * Records malformed items (a seq another request took meanwhile keeps what it names) and moves the
   * device's watermark, in one write. Returns what each of these seqs names now.
   */
  async refuse(deviceId: string, refusals: readonly Refusal[], receivedAt: number): Promise<Map<number, DeviceItem>> {
    return this.sql.write(async (tx) => {
      // Writes are serialized (SQLite's one writer, PostgreSQL's write lock): the check and the insert see one table.
      for (const r of refusals) {
        await tx.run(
          `INSERT INTO device_refusals (device_id, seq, request_hash, detail, received_at)
           SELECT @device, @seq, @hash, @detail, @at WHERE NOT EXISTS (SELECT 1 FROM commands WHERE device_id = @device AND device_seq = @seq)
           ON CONFLICT DO NOTHING`,
          { device: deviceId, seq: r.seq, hash: r.requestHash, detail: r.detail, at: receivedAt },
        )
      }
      const contiguous = (await progress(tx, deviceId)).lastContiguousSeq
      await tx.run(
        `INSERT INTO device_sync (device_id, contiguous) VALUES (@device, @contiguous)
         ON CONFLICT (device_id) DO UPDATE SET contiguous = excluded.contiguous WHERE device_sync.contiguous < excluded.contiguous`,
        { device: deviceId, contiguous },
      )
      return new Devices(tx).items(deviceId, refusals.map((r) => r.seq))
    })
  }

  /** What the server has of the device's numbering (`GET /devices/{deviceId}/sync`). */
  async sync(deviceId: string): Promise<DeviceSync> {
    const [seen, numbering] = await Promise.all([
      this.sql.get<{ at: number | null }>(
        `SELECT max(at) AS at FROM (SELECT max(received_at) AS at FROM commands WHERE device_id = @device
         UNION ALL SELECT max(received_at) AS at FROM device_refusals WHERE device_id = @device) AS seen`,
        { device: deviceId },
      ),
      progress(this.sql, deviceId),
    ])
    return { deviceId, ...numbering, lastSeenAt: seen?.at === null || seen?.at === undefined ? null : Number(seen.at) }
  }
}

/** The device's numbering from its watermark on: one index range of each table. */
async function progress(sql: Sql, deviceId: string): Promise<Omit<DeviceSync, 'deviceId' | 'lastSeenAt'>> {
  const from = Number((await sql.get<{ contiguous: number }>('SELECT contiguous FROM device_sync WHERE device_id = @device', { device: deviceId }))?.contiguous ?? 0)
  const seqs = await sql.all<{ seq: number }>(
    `SELECT seq FROM (SELECT device_seq AS seq FROM commands WHERE device_id = @device AND device_seq > @from
     UNION ALL SELECT seq FROM device_refusals WHERE device_id = @device AND seq > @from) AS later ORDER BY seq`,
    { device: deviceId, from },
  )
  return numberingFrom(from, seqs.map((r) => Number(r.seq)))
}

/** lastContiguousSeq, highestSeq and gaps, given that 1..`from` are all known and `later` (ascending) are the rest. */
export function numberingFrom(from: number, later: readonly number[]): Omit<DeviceSync, 'deviceId' | 'lastSeenAt'> {
  const gaps: Array<[number, number]> = []
  let previous = from
  for (const seq of later) {
    if (seq > previous + 1) gaps.push([previous + 1, seq - 1])
    previous = Math.max(previous, seq)
  }
  return { lastContiguousSeq: gaps.length > 0 ? gaps[0]![0] - 1 : previous, highestSeq: previous, gaps }
}
