import t, { type Test } from 'tap'
import { eachAdapter } from '../helpers/adapters.js'
import { startCluster, type Cluster } from '../helpers/cluster.js'
import { checkHistory, History, seqKey } from '../helpers/history.js'
import { untilHealthy, type WaybillProcess } from '../helpers/process.js'
import { runOfflineDevice, seeded, sendRecorded, type OfflineItem } from '../helpers/scanners.js'
import { bootstrapToken, eventually } from '../helpers/service.js'

// Offline batches against real processes: two devices whose offline work conflicts, uploaded at once
// in chunks over flaky Wi-Fi (answers lost, chunks resent), judged item by item by the history
// checker; and kill -9 in the middle of a batch's cycle and right after its answer.
t.setTimeout(600_000)

const admin = { authorization: `Bearer ${bootstrapToken}`, 'content-type': 'application/json' }

async function deviceToken(base: string, deviceId: string): Promise<string> {
  const res = await fetch(`${base}/admin/tokens`, { method: 'POST', headers: admin, body: JSON.stringify({ deviceId, role: 'scanner' }) })
  return ((await res.json()) as { token: string }).token
}

/** Until every command is decided (the checker's PENDING is for what never will be). */
async function drained(cluster: Cluster): Promise<void> {
  const storage = await cluster.storage()
  await eventually(async () => ((await storage.store.inbox.countPending()) === 0 ? true : undefined), 60_000, 'every command decided')
}

/**
 * A depot morning: 30 shipments registered online, truck T1 opened with 10 places. Device A was offline
 * early (an hour ago): it assigned every shipment (K0–K14 to T1, the rest to the unopened T2), shipped
 * the T2 ones and delivered all. Device B was offline later (half an hour ago) on the same shipments:
 * cancellations, reassignments to T3, an unassign, and T1's departure. What each item gets depends on
 * how the two uploads interleave; whatever it is, it must be what the rules say for that order.
 */
function offlineWork(): { a: OfflineItem[]; b: OfflineItem[] } {
  const hourAgo = Date.now() - 60 * 60_000
  const at = (base: number, i: number) => new Date(base + i * 1000).toISOString()
  const a: OfflineItem[] = []
  const b: OfflineItem[] = []
  for (let k = 0; k < 30; k++) {
    const shipmentId = `K${k}`
    a.push({ seq: a.length + 1, shipmentId, command: { type: 'ASSIGN', truckId: k < 15 ? 'T1' : 'T2', scannedAt: at(hourAgo, a.length), operatorId: 'op-a' } })
    if (k >= 15) a.push({ seq: a.length + 1, shipmentId, command: { type: 'SHIP', scannedAt: at(hourAgo, a.length) } })
    a.push({ seq: a.length + 1, shipmentId, command: { type: 'DELIVER', receivedBy: 'R', scannedAt: at(hourAgo + 10 * 60_000, a.length) } })
  }
  const halfHourAgo = Date.now() - 30 * 60_000
  for (let k = 0; k < 30; k++) {
    const shipmentId = `K${k}`
    if (k % 3 === 0) b.push({ seq: b.length + 1, shipmentId, command: { type: 'CANCEL', reason: 'customer', scannedAt: at(halfHourAgo, b.length) } })
    else if (k % 3 === 1) b.push({ seq: b.length + 1, shipmentId, command: { type: 'ASSIGN', truckId: 'T3', scannedAt: at(halfHourAgo, b.length) } })
    else b.push({ seq: b.length + 1, shipmentId, command: { type: 'UNASSIGN', scannedAt: at(halfHourAgo, b.length) } })
    if (k === 20) b.push({ seq: b.length + 1, truckId: 'T1', command: { type: 'DEPART', scannedAt: at(halfHourAgo, b.length) } })
  }
  return { a, b }
}

async function conflictingDay(t: Test, cluster: Cluster, resendRate: number) {
  const base = cluster.base
  // The set-up is in the history too: the checker accounts for every command, whoever sent it.
  const history = new History()
  for (let k = 0; k < 30; k++) t.equal(await sendRecorded({ base, history, shipmentId: `K${k}`, body: { type: 'REGISTER' } }), 201)
  t.equal(await sendRecorded({ base, history, truckId: 'T1', body: { type: 'OPEN', capacity: 10 } }), 201)
  const [tokenA, tokenB] = await Promise.all([deviceToken(base, 'hand-A'), deviceToken(base, 'hand-B')])
  const { a, b } = offlineWork()
  const random = seeded(20261205)
  await Promise.all([
    runOfflineDevice({ base: () => base, token: tokenA, deviceId: 'hand-A', items: a, chunk: 16, history, random, resendRate }),
    runOfflineDevice({ base: () => base, token: tokenB, deviceId: 'hand-B', items: b, chunk: 7, history, random, resendRate }),
  ])
  await drained(cluster)
  return { history, items: a.length + b.length, setup: 31, storage: await cluster.storage() }
}

eachAdapter(t, 'two devices upload conflicting offline work at once: every item is what the rules say', async (t, adapter) => {
  const cluster = await startCluster(t, { ...adapter.env, WAYBILL_LOG_LEVEL: 'warn' })
  await cluster.serve()
  const { history, items, setup, storage } = await conflictingDay(t, cluster, 0.3)
  const result = await checkHistory(storage, history)
  t.same(result.problems, [], `history of ${result.stats.attempts} item uploads`)
  t.equal(result.stats.commands, items + setup, 'every item is one logical command (besides the set-up)')
  t.ok(result.stats.attempts > items + setup, `items resent (${result.stats.attempts} uploads of ${items})`)
  t.ok((result.stats.statuses['409'] ?? 0) > 10, `conflicts were refused (${JSON.stringify(result.stats.statuses)})`)
  const late = await storage.store.sql.get<{ n: number }>(`SELECT count(*) AS n FROM commands WHERE late = 1 AND device_id IN ('hand-A', 'hand-B')`)
  t.ok(late!.n > 0, `late scans flagged (${late!.n})`)
  const sync = await fetch(`${cluster.base}/devices/hand-A/sync`, { headers: admin }).then((r) => r.json())
  t.match(sync, { deviceId: 'hand-A', lastContiguousSeq: 75, highestSeq: 75, gaps: [] })
})

t.test('negative control: without (device, seq) deduplication the checker names the doubled items', async (t) => {
  const cluster = await startCluster(t, { WAYBILL_LOG_LEVEL: 'warn' })
  await cluster.serve({ WAYBILL_FAULTS: 'no-dedupe' })
  const { history, storage } = await conflictingDay(t, cluster, 0.5)
  const result = await checkHistory(storage, history)
  t.ok((result.kinds.DUPLICATE ?? 0) > 0, `DUPLICATE reported (${JSON.stringify(result.kinds)})`)
})

eachAdapter(t, 'kill -9 in a batch’s cycle, after its commit and right after its answer: nothing acknowledged lost or doubled', async (t, adapter) => {
  const cluster = await startCluster(t, { ...adapter.env, WAYBILL_LOG_LEVEL: 'warn' })
  // In order: mid-transaction (events appended, not committed), after the first commit (the batch
  // taken in, not all decided, no answer), right after an answer was sent, then no fault.
  const faults = ['crash:after-events:1', 'crash:after-commit:1', 'crash:after-reply:1', undefined]
  const kills: string[] = []
  let current: WaybillProcess
  let stopping = false
  const start = async (spec: string | undefined): Promise<void> => {
    const me = await cluster.launch(spec ? { WAYBILL_FAULTS: spec } : {})
    current = me
    void me.exited.then((code) => {
      if (stopping || me !== current) return
      kills.push(`${spec} (exit ${code})`)
      void start(faults[kills.length])
    })
    // A process can reach its fault point before it serves (deciding what the one before it left
    // undecided): that is a kill like the others, and the next process takes over.
    await untilHealthy(cluster.base, me).catch((error: Error) => {
      if (!/^process exited before serving/.test(error.message)) throw error
    })
  }
  // Tokens and the device exist before the first fault can fire.
  const spare = await cluster.serve()
  const token = await deviceToken(cluster.base, 'hand-K')
  await spare.stop()
  await start(faults[0])

  const items: OfflineItem[] = []
  for (let k = 0; k < 100; k++) {
    for (const command of [{ type: 'REGISTER' }, { type: 'ASSIGN', truckId: 'T9' }, { type: 'SHIP' }, { type: 'DELIVER' }, { type: 'DELIVER' }]) {
      items.push({ seq: items.length + 1, shipmentId: `C${k}`, command })
    }
  }
  const history = new History()
  await runOfflineDevice({ base: () => cluster.base, token, deviceId: 'hand-K', items, chunk: 250, history, random: seeded(7), deadlineMs: 400_000 })
  stopping = true
  t.equal(kills.length, 3, `killed at each point: ${kills.join('; ')}`)
  await drained(cluster)
  const storage = await cluster.storage()
  const result = await checkHistory(storage, history)
  t.same(result.problems, [])
  t.equal(result.stats.acknowledged, items.length)
  const events = await storage.store.sql.get<{ n: number }>('SELECT count(*) AS n FROM events')
  t.equal(events!.n, 400, 'four events per shipment: the second DELIVER of each was refused, none doubled')
  // Uploads refused as a whole (503 while a process starts or the database is busy) or answered
  // before the item was decided (202) carry no result for it; every answer that does is its first.
  const answers = history.attempts.filter((a) => a.status !== undefined && a.key === seqKey('hand-K', 5))
  const results = answers.filter((a) => a.status !== 202 && a.status! < 500)
  t.ok(results.every((a) => a.status === 409 && a.response?.reason === 'invalid_transition'), `each result the device got for seq 5 is its first (statuses: ${answers.map((a) => a.status).join(', ')})`)
  // A 202 may have been the device's last word on it (PostgreSQL decides 250 items more slowly than
  // the reply timeout): sent again now, the decided items answer what they were decided.
  const resent = await fetch(`${cluster.base}/batches`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ items: items.slice(0, 5) }) })
  t.equal(resent.status, 200)
  const again = ((await resent.json()) as { results: Array<{ status: number; reason?: string }> }).results
  t.same(again.map((r) => r.status), [201, 200, 200, 200, 409], 'a resent upload answers each item its first result')
  t.equal(again[4]!.reason, 'invalid_transition')
  await current!.stop()
})
