import { connect } from 'node:net'
import t from 'tap'
import { partitionOf } from '../../src/queue/partitions.js'
import { Parking } from '../../src/store/parking.js'
import type { SqliteStore } from '../../src/store/sqlite/store.js'
import { sqliteDb } from '../helpers/db.js'
import { leasePartitionsElsewhere, startRedis } from '../helpers/redis.js'
import { bootstrapToken, eventually, http, startTestService, tempDir } from '../helpers/service.js'

t.test('a client that drips its request is cut off while others are served', async (t) => {
  const api = await startTestService(t, { http: true, env: { WAYBILL_REQUEST_TIMEOUT_MS: '1000' } })
  const { port } = new URL(api.service.url!)
  const socket = connect(Number(port), '127.0.0.1')
  const received: Buffer[] = []
  socket.on('data', (chunk) => received.push(chunk))
  let dripOpen = true
  const closed = new Promise<number>((resolve) => socket.on('close', () => ((dripOpen = false), resolve(Date.now()))))
  const started = Date.now()
  socket.write(`POST /shipments/DRIP/commands HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bootstrapToken}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`)
  const drip = setInterval(() => socket.writable && socket.write(' '), 200)
  t.teardown(() => clearInterval(drip))
  // Meanwhile other clients are served: not after the dripping request ends (measured against it,
  // not against a clock a loaded machine stretches).
  const servedWhileOpen: boolean[] = []
  for (let i = 0; i < 5; i++) {
    t.equal((await http(api.service.url!, 'POST', `/shipments/FAST-${i}/commands`, { type: 'REGISTER' })).status, 201)
    servedWhileOpen.push(dripOpen)
  }
  t.ok(servedWhileOpen[0], `a normal request is not held up by the dripping one (served while it was open: ${servedWhileOpen.join(', ')})`)
  const end = await closed
  clearInterval(drip)
  // The request timeout is 1 s, checked every 250 ms; the bound leaves a loaded machine room, and a
  // connection left to drip (the idle timeout never fires while bytes arrive) still fails it.
  t.ok(end - started < 6000, `the dripping connection was closed after ${end - started} ms`)
  t.match(Buffer.concat(received).toString(), /^HTTP\/1\.1 408/, 'with 408 Request Timeout')
  t.equal((await api.service.storage.store.events.readStream('DRIP')).length, 0)
})

t.test('per-device rate limit: 429 + Retry-After, as problem+json', async (t) => {
  const api = await startTestService(t, { env: { WAYBILL_RATE_LIMIT: '5' } })
  const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => api.command(`RL-${i}`, { type: 'REGISTER' })))
  const limited = answers.filter((a) => a.status === 429)
  t.ok(limited.length >= 5, `${limited.length} of 12 limited`)
  t.ok(Number(limited[0]!.headers['retry-after']) >= 1, 'Retry-After is set')
  t.match(limited[0]!.body, { type: '/problems/rate-limited', status: 429 })
  t.equal(answers.filter((a) => a.status === 201).length, 12 - limited.length)
})

t.test('admission control on inbox depth: 503 + Retry-After, nothing written', async (t) => {
  // Every partition is leased to an owner elsewhere that does not decide: commands pile up.
  const redis = await startRedis(t)
  const dataDir = tempDir(t)
  await leasePartitionsElsewhere(redis, dataDir)
  const api = await startTestService(t, { redis, dataDir, env: { WAYBILL_MAX_PENDING: '3', WAYBILL_REPLY_TIMEOUT_MS: '0' } })
  for (let i = 0; i < 3; i++) t.equal((await api.command(`Q-${i}`, { type: 'REGISTER' }, { prefer: 'respond-async' })).status, 202)
  // The depth is counted at most every 100 ms: the next commands are refused once it has been.
  let extra = 0
  const refused = await eventually(async () => {
    const res = await api.command(`Q-${3 + extra++}`, { type: 'REGISTER' }, { prefer: 'respond-async' })
    return res.status === 503 ? res : undefined
  }, 10_000, 'the inbox depth to refuse a command')
  t.equal(refused.headers['retry-after'], '1')
  t.match(refused.body, { type: '/problems/unavailable', detail: /^\d+ commands are waiting/ })
  t.ok(Number(/^(\d+)/.exec(refused.body.detail)![1]) >= 3, 'at or above WAYBILL_MAX_PENDING')
  t.equal(await api.service.storage.store.inbox.countPending(), 3 + extra - 1, 'the refused command was not recorded')
  t.equal(sqliteDb(api.service.storage).prepare('SELECT count(*) FROM commands WHERE stream_id = ?').pluck().get(`Q-${2 + extra}`), 0)
  // An offline batch is refused before its body is read: even a body that is not JSON gets the 503 (not a 400).
  const batch = await api.request('POST', '/batches', { items: [{ seq: 1, shipmentId: 'QB-1', command: { type: 'REGISTER' } }] })
  t.equal(batch.status, 503)
  t.equal(batch.headers['retry-after'], '1')
  t.match(batch.body, { type: '/problems/unavailable', detail: /^\d+ commands are waiting to be decided; the batch was not read/ })
  t.equal((await api.request('POST', '/batches', '{"items": [')).status, 503, 'the body was not parsed')
  t.equal(await api.service.storage.store.inbox.countPending(), 3 + extra - 1, 'nothing of the batch was recorded')
})

t.test('admission control counts a burst: commands taken in since the last count and not yet committed', async (t) => {
  // Nothing decides here; twenty commands arrive at once against WAYBILL_MAX_PENDING=5.
  const redis = await startRedis(t)
  const dataDir = tempDir(t)
  await leasePartitionsElsewhere(redis, dataDir)
  const api = await startTestService(t, { redis, dataDir, env: { WAYBILL_MAX_PENDING: '5', WAYBILL_REPLY_TIMEOUT_MS: '0' } })
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => api.command(`BU-${i}`, { type: 'REGISTER' }, { prefer: 'respond-async' })))
  const statuses = answers.map((a) => a.status)
  t.equal(statuses.filter((s) => s === 202).length, 5, `5 taken in (${statuses.join(',')})`)
  t.equal(statuses.filter((s) => s === 503).length, 15, 'the rest refused')
  t.equal(await api.service.storage.store.inbox.countPending(), 5, 'the inbox holds no more than the limit')
})

t.test('a parked backlog neither throttles other shipments nor costs an empty write transaction every sweep', async (t) => {
  const api = await startTestService(t, { env: { WAYBILL_MAX_PENDING: '3' } })
  const store = api.service.storage.store as SqliteStore
  const { inbox } = store
  // Five commands of one shipment, parked (in one write transaction, before the worker can see them).
  await store.sql.write(async (tx) => {
    const parked = store.ops.insert(
      Array.from({ length: 5 }, (_, i) => ({
        commandId: `parked-${i}`, streamId: 'PARKED', partition: partitionOf('PARKED', api.config.partitions),
        payload: { type: 'REGISTER' as const }, metadata: { deviceId: 'd1' }, idempotencyKey: null, requestHash: null, receivedAt: Date.now(),
      })),
    )
    await new Parking(tx).park('PARKED', parked[0]!.command!.commandId, 'injected', 3, Date.now())
  })
  t.equal(await inbox.countPending(), 5)
  await new Promise((resolve) => setTimeout(resolve, 150)) // past the admission count's 100 ms sample
  t.equal((await api.command('FREE-1', { type: 'REGISTER' })).status, 201, 'another shipment is not refused')
  // With only parked commands pending, the sweep (every 200 ms here) has nothing to decide. First let
  // FREE-1's own traffic settle (its wake-up job may still arrive through Redis).
  const { worker } = api.service
  for (let last = -1; worker.cycles() !== last; ) {
    last = worker.cycles()
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
  const cycles = worker.cycles()
  await new Promise((resolve) => setTimeout(resolve, 1200))
  t.equal(worker.cycles(), cycles, 'no write transaction while only parked commands wait')
  t.equal(await inbox.countPending(), 5, 'the parked commands still wait for an admin')
})

t.test('load shedding on event-loop delay: 503 + Retry-After', async (t) => {
  const api = await startTestService(t, { env: { WAYBILL_MAX_EVENT_LOOP_DELAY_MS: '20' } })
  // Something hogs the event loop (a stand-in for an overloaded process).
  const hog = setInterval(() => {
    const until = Date.now() + 120
    while (Date.now() < until);
  }, 10)
  t.teardown(() => clearInterval(hog))
  let shed: Awaited<ReturnType<typeof api.command>> | undefined
  let shedId = ''
  for (let i = 0; i < 60 && !shed; i++) {
    const res = await api.command(`EL-${i}`, { type: 'REGISTER' })
    if (res.status === 503) [shed, shedId] = [res, `EL-${i}`]
  }
  clearInterval(hog)
  t.ok(shed, 'a request was shed')
  t.equal(shed?.headers['retry-after'], '1')
  t.match(shed?.body, { type: '/problems/unavailable', detail: /overloaded/ })
  // A command sent afterwards is decided after anything taken in before it (arrival order).
  // (Retried like a scanner: the delay measured while the hog ran still sheds for up to a second.)
  const after = await eventually(async () => {
    const res = await api.command('EL-after', { type: 'REGISTER' }, { 'idempotency-key': 'el-after' })
    return res.status === 503 ? undefined : res
  }, 20_000, 'the load to pass')
  t.equal(after.status, 201)
  t.equal((await api.service.storage.store.inbox.countPending()) + (await api.service.storage.store.events.readStream(shedId)).length, 0, 'a shed request does nothing')
  t.equal(sqliteDb(api.service.storage).prepare('SELECT count(*) FROM commands WHERE stream_id = ?').pluck().get(shedId), 0, 'nor is it in the inbox')
  t.equal((await api.request('GET', '/health', undefined, { authorization: '' })).status, 200, '/health still answers')
})

t.test('disk full: 503 + Retry-After, nothing half-done, and it resumes when space is back', async (t) => {
  const api = await startTestService(t)
  t.equal((await api.command('DF-0', { type: 'REGISTER' })).status, 201)
  const db = sqliteDb(api.service.storage)
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`)
  const statuses: number[] = []
  for (let i = 1; i <= 40; i++) statuses.push((await api.command(`DF-${i}`, { type: 'REGISTER', origin: 'x'.repeat(190) })).status)
  const full = await api.command('DF-x', { type: 'REGISTER', origin: 'y'.repeat(190) })
  t.ok(statuses.includes(503), 'the full disk answers 503')
  t.equal(full.status, 503)
  t.equal(full.headers['retry-after'], '1')
  t.match(full.body, { type: '/problems/unavailable', detail: /SQLITE_FULL/ })
  db.pragma('max_page_count = 1073741823')
  t.equal((await api.command('DF-after', { type: 'REGISTER' })).status, 201, 'processing resumes')
  t.equal(db.pragma('integrity_check', { simple: true }), 'ok')
  t.equal(await api.service.storage.store.inbox.countPending(), 0, 'nothing left half-done')
})

t.test('a locked database delays commands but does not fail or double-apply them', async (t) => {
  // A reply timeout well past the lock's 700 ms: the intake's retries back off (up to 640 ms apart),
  // and on a loaded machine a late timer must not turn the answer into a 202.
  const api = await startTestService(t, { env: { WAYBILL_REPLY_TIMEOUT_MS: '10000' } })
  t.equal((await api.command('BL-1', { type: 'REGISTER' })).status, 201)
  const { default: Database } = await import('better-sqlite3')
  const other = new Database(sqliteDb(api.service.storage).name)
  t.teardown(() => other.close())
  other.exec('BEGIN IMMEDIATE')
  const pending = api.command('BL-1', { type: 'ASSIGN', truckId: 'T1' }, { 'idempotency-key': 'bl-1' })
  await new Promise((resolve) => setTimeout(resolve, 700))
  other.exec('COMMIT')
  const res = await pending
  t.equal(res.status, 200, 'answered once the lock was gone')
  t.equal((await api.command('BL-1', { type: 'ASSIGN', truckId: 'T1' }, { 'idempotency-key': 'bl-1' })).status, 200)
  t.same((await api.service.storage.store.events.readStream('BL-1')).map((e) => e.type), ['ShipmentRegistered', 'TruckAssigned'], 'applied once')
})
