import t from 'tap'
import { leasePartitionsElsewhere, startRedis } from '../helpers/redis.js'
import { eventually, startTestService, tempDir } from '../helpers/service.js'

// What a scanner-app developer relies on beyond the v1 table: CORS for browser apps, polled
// rejections as informative as synchronous ones, time travel that does not invent versions, a 401
// that says whether the token was revoked, and idempotent replays that answer the outcome.
// (Load shedding is tested elsewhere; here a busy test machine must not turn answers into 503s.)
const calm = { WAYBILL_MAX_EVENT_LOOP_DELAY_MS: '30000' }

t.test('CORS is off by default', async (t) => {
  const api = await startTestService(t, { env: calm })
  const res = await api.request('OPTIONS', '/shipments/C-1/commands', undefined, { origin: 'https://scan.example', 'access-control-request-method': 'POST' })
  t.notOk(res.headers['access-control-allow-origin'], 'no cross-origin grant')
  const get = await api.request('GET', '/shipments?limit=1', undefined, { origin: 'https://scan.example' })
  t.equal(get.status, 200)
  t.notOk(get.headers['access-control-allow-origin'])
})

t.test('CORS for the configured origins only', async (t) => {
  const api = await startTestService(t, { env: { ...calm, WAYBILL_CORS_ORIGINS: 'https://scan.example, http://10.0.0.5:8080' } })
  const preflight = await api.request('OPTIONS', '/shipments/C-1/commands', undefined, {
    authorization: '',
    origin: 'https://scan.example',
    'access-control-request-method': 'POST',
    'access-control-request-headers': 'authorization, content-type, idempotency-key, prefer',
  })
  t.equal(preflight.status, 204, 'a preflight needs no token')
  t.equal(preflight.headers['access-control-allow-origin'], 'https://scan.example')
  t.match(String(preflight.headers['access-control-allow-methods']), /POST/)
  for (const header of ['authorization', 'content-type', 'idempotency-key', 'prefer']) {
    t.match(String(preflight.headers['access-control-allow-headers']).toLowerCase(), header, `${header} may be sent`)
  }
  const other = await api.request('OPTIONS', '/shipments/C-1/commands', undefined, { authorization: '', origin: 'https://evil.example', 'access-control-request-method': 'POST' })
  t.notOk(other.headers['access-control-allow-origin'], 'another origin gets no grant')

  const sent = await api.command('C-1', { type: 'REGISTER' }, { origin: 'http://10.0.0.5:8080' })
  t.equal(sent.status, 201)
  t.equal(sent.headers['access-control-allow-origin'], 'http://10.0.0.5:8080')
  for (const header of ['location', 'retry-after', 'idempotent-replayed', 'etag', 'x-request-id']) {
    t.match(String(sent.headers['access-control-expose-headers']).toLowerCase(), header, `${header} is readable by the app`)
  }
})

t.test('a CORS origin must be an origin', async (t) => {
  const { loadConfig, ConfigError } = await import('../../src/config.js')
  t.throws(() => loadConfig({ WAYBILL_CORS_ORIGINS: 'https://scan.example/app' }), ConfigError)
  t.throws(() => loadConfig({ WAYBILL_CORS_ORIGINS: '*' }), ConfigError)
  t.same(loadConfig({ WAYBILL_CORS_ORIGINS: 'https://a.example,https://b.example:8443' }).corsOrigins, ['https://a.example', 'https://b.example:8443'])
  t.same(loadConfig({}).corsOrigins, [])
})

t.test('answers a scanner app relies on', async (t) => {
  const api = await startTestService(t, { env: calm })
  await api.command('S-1', { type: 'REGISTER', origin: 'Depot A' })

  t.test('a polled rejection carries shipment and allowed like the synchronous 409', async (t) => {
    const sync = await api.command('S-1', { type: 'SHIP' })
    t.equal(sync.status, 409, JSON.stringify(sync.body))
    const queued = await api.command('S-1', { type: 'SHIP' }, { prefer: 'respond-async' })
    t.equal(queued.status, 202)
    const polled = await eventually(async () => {
      const res = await api.request('GET', `/commands/${queued.body.commandId}`)
      return res.body.outcome === 'queued' ? undefined : res
    })
    t.equal(polled.status, 200)
    t.match(polled.body, { outcome: 'rejected', reason: 'invalid_transition', shipment: sync.body.shipment, allowed: sync.body.allowed })
    const unknown = await api.command('S-NONE', { type: 'SHIP' }, { prefer: 'respond-async' })
    const notFound = await eventually(async () => {
      const res = await api.request('GET', `/commands/${unknown.body.commandId}`)
      return res.body.outcome === 'queued' ? undefined : res
    })
    t.match(notFound.body, { outcome: 'rejected', reason: 'not_found' })
    t.notOk('shipment' in notFound.body, 'no shipment for an unknown one')
  })

  t.test('?version= beyond the head is a 404, not the head', async (t) => {
    t.equal((await api.request('GET', '/shipments/S-1?version=1')).status, 200)
    const beyond = await api.request('GET', '/shipments/S-1?version=2')
    t.equal(beyond.status, 404)
    t.match(beyond.body, { type: '/problems/not-found', detail: /version 2/ })
  })

  t.test('a 401 tells a revoked token from an unknown one', async (t) => {
    const created = await api.request('POST', '/admin/tokens', { deviceId: 'hh-9', role: 'scanner' })
    await api.request('DELETE', `/admin/tokens/${created.body.tokenId}`)
    const revoked = await api.request('GET', '/shipments/S-1', undefined, { authorization: `Bearer ${created.body.token}` })
    t.equal(revoked.status, 401)
    t.match(revoked.body, { type: '/problems/token-revoked', detail: /revoked/ })
    const unknown = await api.request('GET', '/shipments/S-1', undefined, { authorization: 'Bearer wb_not-a-token-at-all' })
    t.equal(unknown.status, 401)
    t.match(unknown.body, { type: '/problems/unauthorized', detail: /unknown/ })
    t.notMatch(unknown.body.detail, /revoked/)
  })

  t.test('an idempotent replay of a command first answered 202 answers its outcome once decided', async (t) => {
    const key = { 'idempotency-key': 'replay-after-202' }
    const first = await api.command('S-2', { type: 'REGISTER' }, { ...key, prefer: 'respond-async' })
    t.equal(first.status, 202)
    await eventually(async () => ((await api.request('GET', `/commands/${first.body.commandId}`)).body.outcome === 'accepted' ? true : undefined))
    for (const prefer of [{}, { prefer: 'respond-async' }] as Array<Record<string, string>>) {
      const replay = await api.command('S-2', { type: 'REGISTER' }, { ...key, ...prefer })
      t.equal(replay.status, 201, 'the outcome, not a stale 202')
      t.equal(replay.headers['idempotent-replayed'], 'true')
      t.match(replay.body, { commandId: first.body.commandId, outcome: 'accepted', shipment: { shipmentId: 'S-2', state: 'registered' } })
    }
    const rejectedKey = { 'idempotency-key': 'replay-after-202-rejected' }
    const ship = await api.command('S-2', { type: 'SHIP' }, { ...rejectedKey, prefer: 'respond-async' })
    t.equal(ship.status, 202)
    await eventually(async () => ((await api.request('GET', `/commands/${ship.body.commandId}`)).body.outcome === 'rejected' ? true : undefined))
    const replay = await api.command('S-2', { type: 'SHIP' }, rejectedKey)
    t.equal(replay.status, 409)
    t.match(replay.body, { commandId: ship.body.commandId, reason: 'invalid_transition', allowed: ['ASSIGN', 'CANCEL'] })
  })
})

t.test('an idempotent replay of a command still undecided answers 202 again', async (t) => {
  const redis = await startRedis(t)
  const dataDir = tempDir(t)
  await leasePartitionsElsewhere(redis, dataDir)
  const api = await startTestService(t, { redis, dataDir, env: { ...calm, WAYBILL_REPLY_TIMEOUT_MS: '200' } })
  const key = { 'idempotency-key': 'still-queued' }
  const first = await api.command('Q-1', { type: 'REGISTER' }, key)
  t.equal(first.status, 202)
  const replay = await api.command('Q-1', { type: 'REGISTER' }, key)
  t.equal(replay.status, 202, JSON.stringify(replay.body))
  t.equal(replay.headers['idempotent-replayed'], 'true')
  t.equal(replay.headers.location, `/commands/${first.body.commandId}`)
  t.same(replay.body, first.body)
})
