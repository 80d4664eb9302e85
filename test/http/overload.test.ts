import { connect } from 'node:net'
import t from 'tap'
import { leasePartitionsElsewhere, startRedis } from '../helpers/redis.js'
import { bootstrapToken, http, startTestService } from '../helpers/service.js'

t.test('a client that drips its request is cut off while others are served', async (t) => {
  const api = await startTestService(t, { http: true, env: { WAYBILL_REQUEST_TIMEOUT_MS: '1000' } })
  const { port } = new URL(api.service.url!)
  const socket = connect(Number(port), '127.0.0.1')
  const received: Buffer[] = []
  socket.on('data', (chunk) => received.push(chunk))
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())))
  const started = Date.now()
  socket.write(`POST /shipments/DRIP/commands HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bootstrapToken}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`)
  const drip = setInterval(() => socket.writable && socket.write(' '), 200)
  t.teardown(() => clearInterval(drip))
  // Meanwhile other clients are served promptly.
  for (let i = 0; i < 5; i++) {
    const before = Date.now()
    t.equal((await http(api.service.url!, 'POST', `/shipments/FAST-${i}/commands`, { type: 'REGISTER' })).status, 201)
    t.ok(Date.now() - before < 500, 'a normal request is not held up')
  }
  const end = await closed
  clearInterval(drip)
  t.ok(end - started < 3000, `the dripping connection was closed after ${end - started} ms`)
  t.match(Buffer.concat(received).toString(), /^HTTP\/1\.1 408/, 'with 408 Request Timeout')
  t.equal(api.service.storage.store.readStream('DRIP').length, 0)
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
  await leasePartitionsElsewhere(redis)
  const api = await startTestService(t, { redis, env: { WAYBILL_MAX_PENDING: '3', WAYBILL_REPLY_TIMEOUT_MS: '0' } })
  for (let i = 0; i < 3; i++) t.equal((await api.command(`Q-${i}`, { type: 'REGISTER' }, { prefer: 'respond-async' })).status, 202)
  await new Promise((resolve) => setTimeout(resolve, 150))
  const refused = await api.command('Q-9', { type: 'REGISTER' })
  t.equal(refused.status, 503)
  t.equal(refused.headers['retry-after'], '1')
  t.match(refused.body, { type: '/problems/unavailable', detail: /3 commands are waiting/ })
  t.equal(api.service.storage.inbox.countPending(), 3, 'the refused command was not recorded')
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
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(api.service.storage.inbox.countPending() + api.service.storage.store.readStream(shedId).length, 0, 'a shed request does nothing')
  t.equal((await api.request('GET', '/health', undefined, { authorization: '' })).status, 200, '/health still answers')
})

t.test('disk full: 503 + Retry-After, nothing half-done, and it resumes when space is back', async (t) => {
  const api = await startTestService(t)
  t.equal((await api.command('DF-0', { type: 'REGISTER' })).status, 201)
  const { db } = api.service.storage
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
  t.equal(api.service.storage.inbox.countPending(), 0, 'nothing left half-done')
})

t.test('a locked database delays commands but does not fail or double-apply them', async (t) => {
  const api = await startTestService(t)
  t.equal((await api.command('BL-1', { type: 'REGISTER' })).status, 201)
  const { default: Database } = await import('better-sqlite3')
  const other = new Database(api.service.storage.db.name)
  t.teardown(() => other.close())
  other.exec('BEGIN IMMEDIATE')
  const pending = api.command('BL-1', { type: 'ASSIGN', truckId: 'T1' }, { 'idempotency-key': 'bl-1' })
  await new Promise((resolve) => setTimeout(resolve, 700))
  other.exec('COMMIT')
  const res = await pending
  t.equal(res.status, 200, 'answered once the lock was gone')
  t.equal((await api.command('BL-1', { type: 'ASSIGN', truckId: 'T1' }, { 'idempotency-key': 'bl-1' })).status, 200)
  t.same(api.service.storage.store.readStream('BL-1').map((e) => e.type), ['ShipmentRegistered', 'TruckAssigned'], 'applied once')
})
