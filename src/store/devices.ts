import { inList, type Sql } from './sql.js'

/**
 * What the store knows of each device's own numbering (offline batches, docs/api.md *Offline scanners*).
 * A device numbers its scans 1, 2, 3 …; each (device, seq) names exactly one item, forever: the
 * command it became (`commands.device_seq`) or, for an item refused as malformed, a refusal
 * (`device_refusals`) — a malformed item is answered too, so its seq is not a gap the device should
 * resend. The request hash of each makes a resend recognisable (same hash: the first result) and a
 * reused seq detectable (another hash).
 *
 * `device_sync` keeps, per device, a summary of its numbering up to a seq (`checked`): the gaps below
 * it (`gaps`, JSON ranges) and the seq up to which every number is known (`contiguous`). A read then
 * looks only above `checked` and inside those gaps (where a late resend may have filled one), not at
 * every seq after the first gap: a device that lost part of its buffer keeps its gap forever, and each
 * of its batches would otherwise read all it sent since. The summary is written in the write
 * transaction from what that transaction sees; seqs are never removed, so it is always at most the
 * truth, and a summary that lags (a crash before it was written) costs a longer read, never a wrong answer.
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
      const now = await progress(tx, deviceId)
      await tx.run(
        `INSERT INTO device_sync (device_id, contiguous, checked, gaps) VALUES (@device, @contiguous, @checked, @gaps)
         ON CONFLICT (device_id) DO UPDATE SET contiguous = excluded.contiguous, checked = excluded.checked, gaps = excluded.gaps`,
        { device: deviceId, contiguous: now.lastContiguousSeq, checked: now.highestSeq, gaps: JSON.stringify(now.gaps) },
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

type Numbering = Omit<DeviceSync, 'deviceId' | 'lastSeenAt'>
type Range = readonly [number, number]

/** The device's numbering: its summary, and the seqs above it or inside the gaps it lists (one index range each). */
async function progress(sql: Sql, deviceId: string): Promise<Numbering> {
  const summary = await sql.get<{ checked: number; gaps: string }>('SELECT checked, gaps FROM device_sync WHERE device_id = @device', { device: deviceId })
  const checked = Number(summary?.checked ?? 0)
  const gaps = JSON.parse(summary?.gaps ?? '[]') as Range[]
  const ranges: Range[] = [...gaps, [checked + 1, Number.MAX_SAFE_INTEGER]]
  // The ranges drive the read (CROSS JOIN keeps them the outer loop on SQLite): one index range each.
  const postgres = sql.dialect === 'postgres'
  const within = postgres ? '(SELECT * FROM unnest(@los::bigint[], @his::bigint[]) AS r (lo, hi)) AS r' : '(SELECT value ->> 0 AS lo, value ->> 1 AS hi FROM json_each(@ranges)) AS r'
  const seqs = await sql.all<{ seq: number }>(
    `SELECT seq FROM (SELECT c.device_seq AS seq FROM ${within} CROSS JOIN commands c WHERE c.device_id = @device AND c.device_seq BETWEEN r.lo AND r.hi
     UNION ALL SELECT d.seq FROM ${within} CROSS JOIN device_refusals d WHERE d.device_id = @device AND d.seq BETWEEN r.lo AND r.hi) AS found ORDER BY seq`,
    postgres ? { device: deviceId, los: ranges.map((r) => r[0]), his: ranges.map((r) => r[1]) } : { device: deviceId, ranges },
  )
  return numbering(checked, gaps, seqs.map((r) => Number(r.seq)))
}

/**
 * lastContiguousSeq, highestSeq and gaps, given a summary — every seq up to `checked` is known but
 * those in `gaps` (ascending) — and `found` (ascending): the known seqs inside those gaps or above `checked`.
 */
function numbering(checked: number, gaps: readonly Range[], found: readonly number[]): Numbering {
  const open: Array<[number, number]> = []
  let i = 0
  for (const [lo, hi] of gaps) {
    let next = lo
    for (; i < found.length && found[i]! <= hi; i++) {
      if (found[i]! > next) open.push([next, found[i]! - 1])
      next = Math.max(next, found[i]! + 1)
    }
    if (next <= hi) open.push([next, hi])
  }
  let highest = checked
  for (; i < found.length; i++) {
    if (found[i]! > highest + 1) open.push([highest + 1, found[i]! - 1])
    highest = Math.max(highest, found[i]!)
  }
  return { lastContiguousSeq: open.length > 0 ? open[0]![0] - 1 : highest, highestSeq: highest, gaps: open }
}
