import t, { type Test } from 'tap'
import { openStorage } from '../../src/storage.js'
import { adapterFor } from '../helpers/adapters.js'
import { checkHistory, History } from '../helpers/history.js'
import { postgresLeftOut } from '../helpers/postgres.js'
import { spawnWaybill, untilHealthy, type WaybillProcess } from '../helpers/process.js'
import { freePort, startRedis } from '../helpers/redis.js'
import { runScanner, seeded } from '../helpers/scanners.js'
import { bootstrapToken, eventually, http, tempDir } from '../helpers/service.js'

// Several hosts: N `waybill serve` processes, each with its own port (as if on its own machine),
// sharing one PostgreSQL database and one Redis. Partitions are leased fairly over them; a request is
// answered by whichever node it reached, whichever node decided it.
t.setTimeout(400_000)

interface Node {
  readonly base: string
  process: WaybillProcess
}

async function installation(t: Test, count: number) {
  const adapter = await adapterFor(t, 'postgres')
  const redis = await startRedis(t)
  const env = {
    ...adapter.env,
    REDIS_URL: redis.url,
    WAYBILL_BOOTSTRAP_TOKEN: bootstrapToken,
    WAYBILL_RATE_LIMIT: '0',
    WAYBILL_EMBEDDED_REDIS: 'never',
    WAYBILL_STALL_INTERVAL_MS: '2000',
    WAYBILL_SWEEP_INTERVAL_MS: '200',
    WAYBILL_REPLY_TIMEOUT_MS: '3000',
    WAYBILL_MAX_EVENT_LOOP_DELAY_MS: '60000',
    WAYBILL_LOG_LEVEL: 'info',
  }
  const nodes: Node[] = []
  const start = async (node: { base: string; port: number; dataDir: string }) => {
    const child = spawnWaybill(t, ['serve'], { ...env, PORT: String(node.port), WAYBILL_DATA_DIR: node.dataDir })
    await untilHealthy(node.base, child)
    return child
  }
  const places = await Promise.all(
    Array.from({ length: count }, async () => {
      const port = await freePort()
      return { port, base: `http://127.0.0.1:${port}`, dataDir: tempDir(t) }
    }),
  )
  for (const place of places) nodes.push({ base: place.base, process: await start(place) })
  const storage = await openStorage({ databaseFile: '', databaseUrl: adapter.env.WAYBILL_DATABASE_URL, busyTimeoutMs: 1000, bootstrapToken: undefined })
  t.teardown(() => storage.close())
  const owners = async () => {
    const rows = await storage.store.epochs.all()
    return new Map(nodes.map((n) => [n.process.pid, rows.filter((r) => r.owner?.includes(`:${n.process.pid}:`)).length]))
  }
  return { nodes, storage, owners, restart: async (i: number) => (nodes[i]!.process = await start(places[i]!)) }
}

t.test('PostgreSQL, several hosts', { skip: await postgresLeftOut() }, async (t) => {
  t.test('three nodes share the partitions; 50 DELIVERs spread over them: exactly one accepted, answered where it arrived', async (t) => {
    const { nodes, owners } = await installation(t, 3)
    const shares = await eventually(async () => {
      const counts = [...(await owners()).values()]
      return counts.reduce((a, b) => a + b, 0) === 8 && counts.every((n) => n >= 2) ? counts : undefined
    }, 30_000, 'the partitions to be shared by the three nodes')
    t.comment(`partitions per node: ${shares.join(', ')}`)
    const [a, b, c] = nodes.map((n) => n.base) as [string, string, string]
    t.equal((await http(a, 'POST', '/shipments/DUP/commands', { type: 'REGISTER' })).status, 201)
    t.equal((await http(b, 'POST', '/shipments/DUP/commands', { type: 'ASSIGN', truckId: 'T1' })).status, 200)
    t.equal((await http(c, 'POST', '/shipments/DUP/commands', { type: 'SHIP' })).status, 200)
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => http(nodes[i % 3]!.base, 'POST', '/shipments/DUP/commands', { type: 'DELIVER', receivedBy: `R${i}` })))
    const statuses = answers.map((r) => r.status)
    t.equal(statuses.filter((s) => s === 200).length, 1, 'one DELIVER accepted')
    t.equal(statuses.filter((s) => s === 409).length, 49, 'the other 49 rejected, each answered by the node it reached')
    t.same(answers.filter((r) => r.status === 409).map((r) => r.body.reason), Array(49).fill('invalid_transition'))
    const events = await http(a, 'GET', '/shipments/DUP/events')
    t.same(events.body.events.map((e: { type: string }) => e.type), ['ShipmentRegistered', 'TruckAssigned', 'ShipmentShipped', 'ShipmentDelivered'])
    // The same Idempotency-Key through two nodes: one command.
    const first = await http(a, 'POST', '/shipments/KEY/commands', { type: 'REGISTER' }, { 'idempotency-key': 'k-1' })
    const again = await http(c, 'POST', '/shipments/KEY/commands', { type: 'REGISTER' }, { 'idempotency-key': 'k-1' })
    t.equal(first.status, 201)
    t.equal(again.status, 201)
    t.equal(again.headers['idempotent-replayed'], 'true')
    t.equal(again.body.commandId, first.body.commandId, 'one command, whichever node the retry reached')
  })

  t.test('kill -9 of a node under load: its partitions are taken over within seconds, nothing lost, doubled or reordered', async (t) => {
    const { nodes, storage, owners } = await installation(t, 2)
    await eventually(async () => ([...(await owners()).values()].every((n) => n > 0) ? true : undefined), 30_000, 'both nodes to own partitions')
    const history = new History()
    const random = seeded(42)
    let answered = 0
    const scanners = Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        runScanner({
          // Each request goes to a node at random; a refused connection is retried (the scanner app's way).
          base: () => nodes[Math.floor(random() * nodes.length)]!.base,
          shipmentId: `H-${i % 12}`, scannerId: `H-${i % 12}-s${Math.floor(i / 12)}`, commands: 30, history, random, deadlineMs: 240_000,
          onAnswered: () => void answered++,
        }),
      ),
    )
    await eventually(() => (answered >= 150 ? true : undefined), 60_000, '150 answers')
    const victim = nodes[1]!.process
    const killedAt = Date.now()
    await victim.kill9()
    const takeover = await eventually(async () => ((await owners()).get(nodes[0]!.process.pid) === 8 ? Date.now() - killedAt : undefined), 30_000, 'the survivor to own every partition')
    t.comment(`the survivor took every partition over ${takeover} ms after the kill`)
    t.ok(takeover < 15_000, 'taken over within seconds')
    await scanners
    await eventually(async () => ((await storage.store.inbox.countPending()) === 0 ? true : undefined), 30_000, 'the inbox to drain')
    const result = await checkHistory(storage, history)
    t.comment(JSON.stringify(result.stats))
    t.same(result.problems, [], 'the history satisfies I1–I7 and the oracle')
  })
})
