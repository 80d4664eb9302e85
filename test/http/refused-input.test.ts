import { request as httpRequest } from 'node:http'
import t, { type Test } from 'tap'
import { verify } from '../../src/operations/verify.js'
import { sqliteDb } from '../helpers/db.js'
import { bootstrapToken, startTestService, type TestService } from '../helpers/service.js'

// Issue 9, items 6–9: input that names nothing real is refused with a problem+json 400 and writes
// nothing — lone surrogates and NUL in any text, timestamps that are no instant (second 60), `.` and
// `..` as identifiers — and a client's X-Request-Id is only kept when it is 1–128 visible ASCII.

interface Raw {
  readonly status: number
  readonly type: string
  readonly body: string
  readonly headers: Record<string, unknown>
}

/** The machine running the tests is shared: load shedding on event-loop delay is not what is tested here. */
const env = { WAYBILL_MAX_EVENT_LOOP_DELAY_MS: '60000' }

function rawRequest(api: TestService) {
  return async (method: string, url: string, payload?: string | Buffer, headers: Record<string, string> = {}): Promise<Raw> => {
    const res = await api.service.app!.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${bootstrapToken}`, ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(payload === undefined ? {} : { payload }),
    })
    return { status: res.statusCode, type: String(res.headers['content-type'] ?? ''), body: res.body, headers: res.headers }
  }
}

function counts(api: TestService) {
  return sqliteDb(api.service.storage)
    .prepare('SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM commands) AS commands, (SELECT count(*) FROM tokens) AS tokens')
    .get()
}

function assertProblem(t: Test, res: Raw, status: number, name: string) {
  t.equal(res.status, status, `${name}: ${status} (got ${res.status} ${res.body.slice(0, 160)})`)
  t.match(res.type, /^application\/problem\+json/, `${name}: problem+json`)
  if (res.type.startsWith('application/problem+json')) t.match(JSON.parse(res.body), { type: /^\/problems\//, title: String, status }, `${name}: RFC 9457 body`)
}

t.test('text that is not well-formed Unicode, or holds NUL, is a 400 wherever it enters', async (t) => {
  const api = await startTestService(t, { env })
  const raw = rawRequest(api)
  t.equal((await api.command('U-1', { type: 'REGISTER' })).status, 201)
  const before = counts(api)
  const cases: Array<[string, Promise<Raw>]> = [
    // The reproduction: a JSON escape of a lone high surrogate.
    ['lone high surrogate in origin', raw('POST', '/shipments/U-2/commands', '{"type":"REGISTER","origin":"\\ud800x"}')],
    ['lone low surrogate in destination', raw('POST', '/shipments/U-2/commands', '{"type":"REGISTER","destination":"x\\udc00"}')],
    ['reversed pair in operatorId', raw('POST', '/shipments/U-2/commands', '{"type":"REGISTER","operatorId":"\\udc00\\ud800"}')],
    ['lone surrogate in receivedBy', raw('POST', '/shipments/U-1/commands', '{"type":"DELIVER","receivedBy":"\\ud83d"}')],
    ['lone surrogate in a cancel reason', raw('POST', '/shipments/U-1/commands', '{"type":"CANCEL","reason":"\\udfff"}')],
    ['lone surrogate in a property name', raw('POST', '/shipments/U-2/commands', '{"type":"REGISTER","\\ud800":"x"}')],
    ['NUL in origin', raw('POST', '/shipments/U-2/commands', '{"type":"REGISTER","origin":"a\\u0000b"}')],
    ['NUL in a cancel reason', raw('POST', '/shipments/U-1/commands', '{"type":"CANCEL","reason":"\\u0000"}')],
    ['invalid UTF-8 bytes in the body', raw('POST', '/shipments/U-2/commands', Buffer.concat([Buffer.from('{"type":"REGISTER","origin":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]))],
    ['a lone 0xff byte in the body', raw('POST', '/shipments/U-2/commands', Buffer.concat([Buffer.from('{"type":"REGISTER","origin":"'), Buffer.from([0xff]), Buffer.from('"}')]))],
    ['lone surrogate in a token label', raw('POST', '/admin/tokens', '{"deviceId":"D-1","role":"scanner","label":"\\ud800"}')],
    ['surrogate (as UTF-8) in the path', raw('GET', '/shipments/%ED%A0%80')],
    ['surrogate (as UTF-8) in the query string', raw('GET', '/shipments?truckId=%ED%A0%80')],
    ['NUL in the query string', raw('GET', '/shipments?truckId=a%00b')],
    ['NUL in the path', raw('GET', '/shipments/a%00b/events')],
    ['non-ASCII Idempotency-Key', raw('POST', '/shipments/U-2/commands', '{"type":"REGISTER"}', { 'idempotency-key': 'k\u00e9y' })],
  ]
  for (const [name, response] of cases) assertProblem(t, await response, 400, name)
  t.same(counts(api), before, 'nothing was written')

  // Well-formed text outside ASCII is fine: astral characters (surrogate pairs), accents.
  const ok = await api.command('U-3', { type: 'REGISTER', origin: 'Zürich 😀', destination: '東京' })
  t.equal(ok.status, 201, 'well-formed non-ASCII text is accepted')
  t.equal(ok.body.shipment.origin, 'Zürich 😀')
  // What the issue says broke for good: the log and the read model still agree.
  t.same((await verify(api.service.storage.store)).problems, [], 'verify passes')
})

t.test('timestamps that name no real instant are a 400, not a 500 or a false 404', async (t) => {
  const api = await startTestService(t, { env })
  const raw = rawRequest(api)
  t.equal((await api.command('L-1', { type: 'REGISTER' })).status, 201)
  const before = counts(api)
  const cases: Array<[string, Promise<Raw>]> = [
    ['/stats?from second 60 (was a 500)', raw('GET', '/stats?from=2016-12-31T23:59:60Z')],
    ['/stats?to second 60', raw('GET', '/stats?to=2016-12-31T23:59:60Z')],
    ['/stats?from second 60 with fractions', raw('GET', '/stats?from=2016-12-31T23:59:60.5Z')],
    ['?at= second 60 (was a false 404)', raw('GET', '/shipments/L-1?at=2016-12-31T23:59:60Z')],
    ['?at= second 60 on any minute', raw('GET', '/shipments/L-1?at=2030-01-01T10:15:60%2B02:00')],
    ['?at= an offset without minutes', raw('GET', '/shipments/L-1?at=2030-01-01T10:15:00%2B02')],
    ['?at= 30 February', raw('GET', '/shipments/L-1?at=2026-02-30T10:00:00Z')],
    ['?at= hour 24', raw('GET', '/shipments/L-1?at=2026-02-03T24:00:00Z')],
    ['scannedAt second 60', raw('POST', '/shipments/L-1/commands', '{"type":"ASSIGN","truckId":"T1","scannedAt":"2016-12-31T23:59:60Z"}')],
    ['scannedAt 29 February of a common year', raw('POST', '/shipments/L-1/commands', '{"type":"ASSIGN","truckId":"T1","scannedAt":"2027-02-29T10:00:00Z"}')],
  ]
  for (const [name, response] of cases) assertProblem(t, await response, 400, name)
  t.same(counts(api), before, 'nothing was written')

  t.equal((await raw('GET', '/stats?from=2016-12-31T23:59:59Z')).status, 200, 'second 59 is fine')
  t.equal((await raw('GET', `/shipments/L-1?at=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).status, 200, 'a real ?at= answers')
  t.equal((await raw('GET', '/shipments/L-1?at=2030-01-01%2010:15:00Z')).status, 200, 'a space between date and time (RFC 3339 allows it)')
  const leapDay = await raw('POST', '/shipments/L-1/commands', '{"type":"ASSIGN","truckId":"T1","scannedAt":"2028-02-29T10:00:00+01:00"}')
  t.equal(leapDay.status, 200, '29 February of a leap year is a day')
})

t.test('X-Request-Id is kept only when it is 1–128 visible ASCII characters', async (t) => {
  const api = await startTestService(t, { env })
  const raw = rawRequest(api)
  const visible = /^[\x21-\x7e]{1,128}$/
  const kept = ['scanner-42:7', 'a', 'x'.repeat(128), '<b>"quoted"</b>&{}']
  for (const id of kept) t.equal((await raw('GET', '/health', undefined, { 'x-request-id': id })).headers['x-request-id'], id, `kept: ${id.slice(0, 20)}`)

  // The value: 2,007 characters with spaces and HTML.
  const hostile = `<script>alert(1)</script> ${'A'.repeat(1981)}`
  t.equal(hostile.length, 2007)
  const refused = [hostile, 'x'.repeat(129), 'has space', '', ' ', 'tab\tinside', 'caf\u00e9']
  for (const id of refused) {
    const echoed = String((await raw('GET', '/health', undefined, { 'x-request-id': id })).headers['x-request-id'])
    t.not(echoed, id, `replaced: ${JSON.stringify(id.slice(0, 20))}`)
    t.match(echoed, visible, 'the server made an id of its own')
  }
  // Nor is it stored in the event log.
  const registered = await raw('POST', '/shipments/R-1/commands', '{"type":"REGISTER"}', { 'x-request-id': hostile })
  t.equal(registered.status, 201)
  const [event] = (await api.request('GET', '/shipments/R-1/events')).body.events
  t.not(event.metadata.requestId, hostile, 'the hostile id is not in the log')
  t.equal(event.metadata.requestId, registered.headers['x-request-id'], 'the log has the id the answer carried')
  const traced = await raw('POST', '/shipments/R-2/commands', '{"type":"REGISTER"}', { 'x-request-id': 'scan-0001' })
  t.equal((await api.request('GET', '/shipments/R-2/events')).body.events[0].metadata.requestId, 'scan-0001', 'a valid id is traced into the log')
  t.equal(traced.headers['x-request-id'], 'scan-0001')
})

t.test('. and .. are not shipment or truck ids', async (t) => {
  const api = await startTestService(t, { env, http: true })
  const raw = rawRequest(api)
  t.equal((await api.command('D-1', { type: 'REGISTER' })).status, 201)
  const before = counts(api)
  const cases: Array<[string, Promise<Raw>]> = [
    ['truck id .', raw('POST', '/shipments/D-1/commands', '{"type":"ASSIGN","truckId":"."}')],
    ['truck id ..', raw('POST', '/shipments/D-1/commands', '{"type":"ASSIGN","truckId":".."}')],
    ['list by truck ..', raw('GET', '/shipments?truckId=..')],
  ]
  for (const [name, response] of cases) assertProblem(t, await response, 400, name)

  // Over a real socket with the path as it is (curl --path-as-is; `inject` and browsers would resolve
  // the dot segments, %2E included, before they reach the router).
  const address = api.service.app!.server.address() as { port: number }
  const overSocket = (method: string, path: string, body?: string) =>
    new Promise<Raw>((resolve, reject) => {
      const headers = { authorization: `Bearer ${bootstrapToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }
      const req = httpRequest({ host: '127.0.0.1', port: address.port, method, path, headers }, (res) => {
        let text = ''
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body: text, headers: res.headers }))
      })
      req.on('error', reject)
      req.end(body)
    })
  for (const id of ['.', '..', '%2E', '%2e%2E']) {
    assertProblem(t, await overSocket('POST', `/shipments/${id}/commands`, '{"type":"REGISTER"}'), 400, `POST /shipments/${id}/commands`)
    assertProblem(t, await overSocket('GET', `/shipments/${id}`), 400, `GET /shipments/${id}`)
    assertProblem(t, await overSocket('GET', `/shipments/${id}/events`), 400, `GET /shipments/${id}/events`)
  }
  t.same(counts(api), before, 'nothing was written')
  for (const id of ['...', '.a', 'a.', 'a..b']) t.equal((await api.command(id, { type: 'REGISTER' })).status, 201, `${id} is an id`)
  t.equal((await api.command('D-1', { type: 'ASSIGN', truckId: '.T' })).status, 200, 'a truck id may start with a dot')
})
