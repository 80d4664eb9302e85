import t from 'tap'
import { verify } from '../../src/operations/verify.js'
import { partitionOf } from '../../src/queue/partitions.js'
import { eachAdapter } from '../helpers/adapters.js'
import { startCluster } from '../helpers/cluster.js'
import type { WaybillProcess } from '../helpers/process.js'
import { eventually, http } from '../helpers/service.js'

// A departure's fan-out across processes, killed (-9) at every fault point, on both adapters. The
// trucks' partitions are held by worker A, the shipments' by worker B (each capped at four of the
// eight, so which holds which is fixed: the first worker takes 0–3). For each fault point a worker
// started with the fault takes the place of the one that decides that side, the truck departs, the
// worker dies where the fault says, a clean worker takes over — and in the end every shipment on the
// manifest has shipped exactly once, carrying the departure's command id, and the DEPART (retried by
// its scanner with its key) is answered 200.
t.setTimeout(400_000)

const truckPartitions = [0, 1, 2, 3]
/** Ids whose stream falls in the given partitions (of eight). */
function idsIn(partitions: readonly number[], prefix: string, count: number, stream = (id: string) => id): string[] {
  const ids: string[] = []
  for (let i = 0; ids.length < count; i++) if (partitions.includes(partitionOf(stream(`${prefix}${i}`), 8))) ids.push(`${prefix}${i}`)
  return ids
}

const scenarios = [
  { side: 'shipments', fault: 'crash:before-commit:1' },
  { side: 'shipments', fault: 'crash:after-events:1' },
  { side: 'shipments', fault: 'crash:after-commit:1' },
  { side: 'truck', fault: 'crash:after-events:1' },
  { side: 'truck', fault: 'crash:after-commit:1' },
] as const

eachAdapter(t, 'kill -9 in the middle of a departure’s fan-out, at every fault point', async (t, adapter) => {
  const cluster = await startCluster(t, { ...adapter.env, WAYBILL_LOG_LEVEL: 'warn', WAYBILL_REPLY_TIMEOUT_MS: '3000' })
  await cluster.serve({ WAYBILL_MAX_PARTITIONS: '0' })
  const capped = { WAYBILL_MAX_PARTITIONS: '4', WAYBILL_BATCH_MAX: '3', WAYBILL_LOG_LEVEL: 'info' }
  const storage = await cluster.storage()
  const owned = async (pid: number) => (await storage.store.epochs.all()).filter((r) => r.owner?.includes(`:${pid}:`)).map((r) => r.partition)
  const start = async (extra: Record<string, string> = {}) => {
    const worker = cluster.worker({ ...capped, ...extra })
    await eventually(async () => ((await owned(worker.pid)).length === 4 ? true : undefined), 30_000, `worker ${worker.pid} to hold four partitions`)
    return worker
  }
  const workers: { truck: WaybillProcess; shipments: WaybillProcess } = { truck: await start(), shipments: undefined as never }
  workers.shipments = await start()
  t.same(await owned(workers.truck.pid), truckPartitions, 'the first worker holds the trucks’ partitions')
  const post = (path: string, body: unknown, key?: string) => http(cluster.base, 'POST', path, body, key ? { 'idempotency-key': key } : {})

  for (const [n, { side, fault }] of scenarios.entries()) {
    const truckId = idsIn(truckPartitions, `F${n}T`, 1, (id) => `truck:${id}`)[0]!
    const shipments = idsIn([4, 5, 6, 7], `F${n}S`, 9)
    t.equal((await post(`/trucks/${truckId}/commands`, { type: 'OPEN' })).status, 201)
    for (const id of shipments) {
      t.equal((await post(`/shipments/${id}/commands`, { type: 'REGISTER' })).status, 201)
      t.equal((await post(`/shipments/${id}/commands`, { type: 'ASSIGN', truckId })).status, 200)
    }
    // The side's worker is replaced by one that dies at the fault point (it takes the same partitions).
    await workers[side].stop()
    const faulty = await start({ WAYBILL_FAULTS: fault })
    const key = `depart-${truckId}`
    const first = await post(`/trucks/${truckId}/commands`, { type: 'DEPART' }, key)
    const died = await faulty.exited
    t.not(died, 0, `${side} · ${fault}: the worker died at the fault point (answered ${first.status})`)
    workers[side] = await start()
    // The scanner retries with its key until the departure is answered.
    const answer = await eventually(async () => {
      const res = await post(`/trucks/${truckId}/commands`, { type: 'DEPART' }, key)
      return res.status === 200 ? res : undefined
    }, 60_000, `${truckId}: DEPART answered 200`)
    const departure = answer.body.commandId as string
    t.same([...answer.body.truck.manifest].sort(), [...shipments].sort(), `${side} · ${fault}: the manifest is every shipment on the truck`)
    for (const id of shipments) {
      const events = (await http(cluster.base, 'GET', `/shipments/${id}/events`)).body.events as Array<{ type: string; metadata: { causationId?: string } }>
      const shipped = events.filter((e) => e.type === 'ShipmentShipped')
      if (shipped.length !== 1 || shipped[0]!.metadata.causationId !== departure) t.fail(`${side} · ${fault}: ${id} shipped ${shipped.length} times (${JSON.stringify(shipped.map((e) => e.metadata))})`)
    }
  }
  // ASSIGN racing DEPART with the truck and its shipments decided by different processes: each
  // shipment is on the manifest and shipped, or refused truck_departed — never left behind assigned.
  const { seeded } = await import('../helpers/scanners.js')
  const random = seeded(77)
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
  const ends = { shipped: 0, refused: 0 }
  for (let round = 0; round < 6; round++) {
    const truckId = idsIn(truckPartitions, `RC${round}T`, 1, (id) => `truck:${id}`)[0]!
    const shipments = idsIn([4, 5, 6, 7], `RC${round}S`, 5)
    t.equal((await post(`/trucks/${truckId}/commands`, { type: 'OPEN' })).status, 201)
    for (const id of shipments) t.equal((await post(`/shipments/${id}/commands`, { type: 'REGISTER' })).status, 201)
    const [departed, ...assigned] = await Promise.all([
      sleep(random() * 40).then(() => post(`/trucks/${truckId}/commands`, { type: 'DEPART' }, `race-${truckId}`)),
      ...shipments.map((id) => sleep(random() * 40).then(() => post(`/shipments/${id}/commands`, { type: 'ASSIGN', truckId }, `race-${id}`))),
    ])
    const final = async (res: { status: number; body: { commandId?: string } }, path: string, body: unknown, key: string) =>
      res.status === 202 ? eventually(async () => { const again = await post(path, body, key); return again.status === 202 ? undefined : again }, 30_000, key) : res
    const manifest: string[] = (await final(departed!, `/trucks/${truckId}/commands`, { type: 'DEPART' }, `race-${truckId}`)).body.truck.manifest
    for (const [i, id] of shipments.entries()) {
      const answer = await final(assigned[i]!, `/shipments/${id}/commands`, { type: 'ASSIGN', truckId }, `race-${id}`)
      const shipment = await eventually(async () => {
        const s = (await http(cluster.base, 'GET', `/shipments/${id}`)).body
        return answer.status !== 200 || s.state === 'shipped' ? s : undefined
      }, 30_000, `${id} to ship with ${truckId}`)
      if (answer.status === 200 && manifest.includes(id) && shipment.state === 'shipped') ends.shipped++
      else if (answer.status === 409 && answer.body.reason === 'truck_departed' && !manifest.includes(id) && shipment.state === 'registered') ends.refused++
      else t.fail(`${id}: ASSIGN ${answer.status} ${answer.body.reason ?? ''}, ${shipment.state}, on the manifest: ${manifest.includes(id)}`)
    }
  }
  t.ok(ends.shipped + ends.refused === 30, `across processes: ${ends.shipped} shipped with their truck, ${ends.refused} refused truck_departed`)

  await eventually(async () => ((await storage.store.inbox.countPending()) === 0 ? true : undefined), 30_000, 'the inbox to drain')
  const report = await verify(storage.store)
  t.same([report.problems, report.inFlight], [[], 0], 'every manifest shipped exactly once by its departure; no saga left in flight')
})
