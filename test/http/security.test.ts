import { readFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import t from 'tap'
import { logRedaction, startService } from '../../src/service.js'
import { sqliteDb } from '../helpers/db.js'
import { startRedis } from '../helpers/redis.js'
import { bootstrapToken, startTestService, tempDir, testConfig } from '../helpers/service.js'

type Who = 'none' | 'revoked' | 'scanner' | 'reviewer' | 'admin'
const everyone: Who[] = ['scanner', 'reviewer', 'admin']

// Every route × every role, with the documented answer: deny by default, 401 without a valid token,
// 403 for the wrong role.
const routes: Array<{ method: string; url: string; allow: Who[] | 'public'; body?: unknown; headers?: Record<string, string> }> = [
  { method: 'POST', url: '/shipments/SEC-1/commands', allow: ['scanner', 'admin'], body: { type: 'ASSIGN', truckId: 'T1' } },
  { method: 'GET', url: '/shipments/SEC-1', allow: everyone },
  { method: 'GET', url: '/shipments/SEC-1/events', allow: everyone },
  { method: 'GET', url: '/shipments', allow: everyone },
  { method: 'GET', url: '/shipments/SEC-1/commands', allow: ['reviewer', 'admin'] },
  { method: 'GET', url: '/events', allow: ['reviewer', 'admin'] },
  // (asked as JSON, the stream answers 406 instead of streaming: enough to see who gets in)
  { method: 'GET', url: '/events/stream', allow: ['reviewer', 'admin'], headers: { accept: 'application/json' } },
  { method: 'GET', url: '/commands/00000000-0000-7000-8000-000000000000', allow: everyone },
  { method: 'GET', url: '/stats', allow: ['reviewer', 'admin'] },
  { method: 'GET', url: '/metrics', allow: ['reviewer', 'admin'] },
  { method: 'GET', url: '/machines/shipment', allow: everyone },
  { method: 'GET', url: '/ready', allow: everyone },
  { method: 'GET', url: '/admin/tokens', allow: ['admin'] },
  { method: 'POST', url: '/admin/tokens', allow: ['admin'], body: { deviceId: 'new-device', role: 'scanner' } },
  { method: 'GET', url: '/admin/parked', allow: ['admin'] },
  { method: 'POST', url: '/admin/parked/SEC-1/retry', allow: ['admin'] },
  { method: 'POST', url: '/admin/parked/SEC-1/discard', allow: ['admin'] },
  { method: 'DELETE', url: '/admin/tokens/00000000-0000-0000-0000-000000000000', allow: ['admin'] },
  { method: 'GET', url: '/docs/', allow: 'public' },
  { method: 'GET', url: '/health', allow: 'public' },
  { method: 'GET', url: '/openapi.json', allow: 'public' },
  { method: 'GET', url: '/problems', allow: 'public' },
  { method: 'GET', url: '/problems/invalid-transition', allow: 'public' },
  { method: 'GET', url: '/viz', allow: 'public' },
  { method: 'GET', url: '/viz/assets/app.js', allow: 'public' },
  { method: 'GET', url: '/viz/layout.json', allow: ['reviewer', 'admin'] },
  { method: 'GET', url: '/viz/chart.svg', allow: ['reviewer', 'admin'] },
  { method: 'GET', url: '/viz/chart.mmd', allow: ['reviewer', 'admin'] },
]

t.test('tokens and roles', async (t) => {
  const api = await startTestService(t)
  const mint = async (deviceId: string, role: string) => {
    const res = await api.request('POST', '/admin/tokens', { deviceId, role, label: `${role} for tests` })
    t.equal(res.status, 201)
    t.equal(res.headers['cache-control'], 'no-store')
    return res.body as { token: string; tokenId: string }
  }
  const scanner = await mint('scanner-7', 'scanner')
  const reviewer = await mint('laptop-1', 'reviewer')
  const admin = await mint('it-desk', 'admin')
  const revoked = await mint('lost-scanner', 'scanner')
  t.match(await api.request('DELETE', `/admin/tokens/${revoked.tokenId}`), { status: 200, body: { revokedAt: String } })
  t.match(scanner.token, /^wb_[A-Za-z0-9_-]{43}$/, '256 random bits')
  const tokenOf: Record<Who, string | null> = { none: null, revoked: revoked.token, scanner: scanner.token, reviewer: reviewer.token, admin: admin.token }
  const as = (who: Who, method: string, url: string, body?: unknown, headers: Record<string, string> = {}) =>
    api.request(method, url, body, { authorization: tokenOf[who] ? `Bearer ${tokenOf[who]}` : '', ...headers })
  t.equal((await as('admin', 'POST', '/shipments/SEC-1/commands', { type: 'REGISTER' })).status, 201)

  t.test('every route × every role', async (t) => {
    for (const route of routes) {
      for (const who of ['none', 'revoked', 'scanner', 'reviewer', 'admin'] as Who[]) {
        const res = await as(who, route.method, route.url, route.body, route.headers)
        const label = `${route.method} ${route.url} as ${who}: ${res.status}`
        if (route.allow === 'public') t.ok(res.status < 400, label)
        else if (who === 'none' || who === 'revoked') t.equal(res.status, 401, label)
        else if (!route.allow.includes(who)) t.equal(res.status, 403, label)
        else t.ok(res.status !== 401 && res.status !== 403 && res.status < 500, label)
      }
    }
  })

  t.test('the device of the token is recorded with every event and outcome', async (t) => {
    const res = await as('scanner', 'POST', '/shipments/SEC-2/commands', { type: 'REGISTER', operatorId: 'op-1' })
    t.equal(res.status, 201)
    const events = await api.request('GET', '/shipments/SEC-2/events')
    t.match(events.body.events[0].metadata, { deviceId: 'scanner-7', operatorId: 'op-1' })
    t.match(await api.service.storage.store.inbox.get(res.body.commandId), { metadata: { deviceId: 'scanner-7' } })
  })

  t.test("a scanner can neither mint tokens nor read another device's commands", async (t) => {
    t.equal((await as('scanner', 'POST', '/admin/tokens', { deviceId: 'x', role: 'admin' })).status, 403)
    const mine = await as('scanner', 'POST', '/shipments/SEC-3/commands', { type: 'REGISTER' })
    const theirs = await as('admin', 'POST', '/shipments/SEC-4/commands', { type: 'REGISTER' })
    t.equal((await as('scanner', 'GET', `/commands/${mine.body.commandId}`)).status, 200, 'its own command')
    t.equal((await as('scanner', 'GET', `/commands/${theirs.body.commandId}`)).status, 404, "another device's command does not exist for it")
    t.equal((await as('reviewer', 'GET', `/commands/${theirs.body.commandId}`)).status, 200)
    t.equal((await as('scanner', 'GET', '/shipments/SEC-4/commands')).status, 403, 'timelines (all devices) are for reviewers')
  })

  t.test('last seen is recorded; listing never shows secrets', async (t) => {
    const list = await api.request('GET', '/admin/tokens')
    const row = list.body.items.find((i: { tokenId: string }) => i.tokenId === scanner.tokenId)
    t.match(row, { deviceId: 'scanner-7', role: 'scanner', lastSeenAt: String, revokedAt: null })
    t.notMatch(JSON.stringify(list.body), scanner.token)
    t.equal((await api.request('DELETE', '/admin/tokens/00000000-0000-0000-0000-000000000000')).status, 404)
  })

  t.test('tokens are stored only as hashes', async (t) => {
    sqliteDb(api.service.storage).pragma('wal_checkpoint(TRUNCATE)')
    const files = ['waybill.db', 'waybill.db-wal'].map((f) => {
      try {
        return readFileSync(`${api.dataDir}/${f}`)
      } catch {
        return Buffer.alloc(0)
      }
    })
    for (const secret of [scanner.token, reviewer.token, admin.token, revoked.token]) {
      t.notOk(files.some((file) => file.includes(secret)), 'the secret is nowhere in the database files')
    }
  })
})

t.test('failed authentication is throttled per address', async (t) => {
  const api = await startTestService(t, { env: { WAYBILL_AUTH_FAILURE_LIMIT: '5' } })
  const statuses: number[] = []
  for (let i = 0; i < 8; i++) statuses.push((await api.request('GET', '/shipments', undefined, { authorization: `Bearer wb_guess${i}` })).status)
  t.same(statuses, [401, 401, 401, 401, 401, 429, 429, 429])
  const throttled = await api.request('GET', '/shipments', undefined, { authorization: 'Bearer wb_guess-more' })
  t.equal(throttled.status, 429, 'further guesses wait until the window passes')
  t.ok(Number(throttled.headers['retry-after']) > 0)
  t.equal((await api.request('GET', '/shipments', undefined, { authorization: `Bearer ${bootstrapToken}` })).status, 200, 'a good token from the same address is served (issue 11 #8)')
  t.equal((await api.request('GET', '/health', undefined, { authorization: '' })).status, 200, 'public routes are not throttled')
})

t.test('logs never contain a token', async (t) => {
  const redis = await startRedis(t)
  const lines: string[] = []
  const sink = new Writable({ write: (chunk, _encoding, done) => void (lines.push(String(chunk)), done()) })
  const config = testConfig({ REDIS_URL: redis.url, WAYBILL_DATA_DIR: tempDir(t), WAYBILL_LOG_LEVEL: 'trace' })
  const logger = pino({ level: 'trace', redact: logRedaction }, sink)
  // The redaction itself: a token field and a request's Authorization header never reach a line.
  logger.info({ token: 'wb_field-secret-1' }, 'a token field')
  logger.info({ req: { headers: { authorization: 'Bearer wb_header-secret-2' } } }, 'a request')
  const service = await startService(config, { api: true, listen: false, logger })
  t.teardown(() => service.close())
  const created = await service.app!.inject({ method: 'POST', url: '/admin/tokens', headers: { authorization: `Bearer ${bootstrapToken}` }, payload: { deviceId: 'd1', role: 'scanner' } })
  const token = created.json().token as string
  await service.app!.inject({ method: 'POST', url: '/shipments/LOG-1/commands', headers: { authorization: `Bearer ${token}` }, payload: { type: 'REGISTER' } })
  await service.app!.inject({ method: 'GET', url: '/shipments/LOG-1', headers: { authorization: `Bearer ${token}` } })
  await service.app!.inject({ method: 'GET', url: '/shipments', headers: { authorization: 'Bearer wb_wrong-token-123' } })
  const log = lines.join('')
  t.ok(lines.length > 5, `${lines.length} log lines captured`)
  t.match(log, /"token created"/)
  const command = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'command')
  t.match(command, { reqId: String, commandId: String, shipmentId: 'LOG-1', outcome: 'accepted' }, 'command logs carry request and command ids')
  t.notOk(log.includes(token), 'the minted token is not logged')
  t.notOk(log.includes(bootstrapToken), 'the bootstrap token is not logged')
  t.notOk(log.includes('wb_wrong-token-123'), 'a wrong token is not logged either')
  t.notOk(log.includes('wb_field-secret-1') || log.includes('wb_header-secret-2'), 'a token field and an Authorization header are redacted')
  t.match(log, /"token":"\[redacted\]"/)
})
