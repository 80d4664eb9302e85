import fc from 'fast-check'
import t from 'tap'
import { findUncleanText } from '../../src/commands/validation.js'
import { verify } from '../../src/operations/verify.js'
import { sqliteDb } from '../helpers/db.js'
import { bootstrapToken, startTestService } from '../helpers/service.js'

// Property-based fuzzing of every route (I6): whatever arrives — methods, paths, query strings,
// headers, bodies, prototype-pollution payloads — the status is one the route documents, never a
// 5xx, errors are problem+json, Object.prototype stays clean, and only accepted or decided commands
// write anything.
const documented: Array<[RegExp, string, number[]]> = [
  [/^\/shipments\/[^/]+\/commands$/, 'POST', [200, 201, 202, 400, 401, 403, 404, 409, 413, 415, 422, 429]],
  [/^\/commands\/[^/]+$/, 'GET', [200, 400, 401, 403, 404]],
  [/^\/shipments\/[^/]+\/commands$/, 'GET', [200, 400, 401, 403, 404]],
  [/^\/machines\/shipment$/, 'GET', [200, 401, 403]],
  [/^\/stats$/, 'GET', [200, 400, 401, 403]],
  [/^\/shipments\/[^/]+\/events$/, 'GET', [200, 400, 401, 403, 404]],
  [/^\/shipments\/[^/]+$/, 'GET', [200, 304, 400, 401, 403, 404]],
  [/^\/shipments$/, 'GET', [200, 400, 401, 403]],
  // 409 feed-reset: an `after` beyond the head is refused rather than silently waited past.
  [/^\/events$/, 'GET', [200, 400, 401, 403, 409]],
  [/^\/health$/, 'GET', [200]],
  [/^\/ready$/, 'GET', [200, 401, 403]],
  [/^\/admin\/parked$/, 'GET', [200, 401, 403]],
  [/^\/admin\/parked\/[^/]+\/(retry|discard)$/, 'POST', [200, 400, 401, 403, 404, 413, 415]],
]
const writes = new Set([200, 201, 202, 404, 409])

// Hostile inputs of issue 9: text with a lone surrogate or NUL, timestamps that are no instant
// (second 60), X-Request-Id values that must not be kept, `.` and `..` as ids.
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code))
const unclean = fc.oneof(
  fc.tuple(fc.string({ maxLength: 10 }), fc.oneof(loneSurrogate, fc.constant('\u0000')), fc.string({ maxLength: 10 })).map((parts) => parts.join('')),
  fc.constantFrom('\ud800x', 'x\udfff', '\udc00\ud800', 'a\u0000b'),
)
const noInstant = fc.oneof(
  fc.constantFrom('2016-12-31T23:59:60Z', '2030-06-30T23:59:60.999+00:00', '2026-02-30T10:00:00Z', '2026-11-27T24:00:00Z', '2026-11-27T10:00:00+01'),
  fc.date({ noInvalidDate: true, min: new Date('1971-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z') }).map((d) => d.toISOString().replace(/:\d\d\.\d+Z$/, ':60Z')),
)
const hostileRequestId = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.constantFrom(`<script>alert(1)</script> ${'A'.repeat(1981)}`, 'x'.repeat(129), 'has space', '', 'ok-request-id', 'x'.repeat(128)),
)
const dotId = fc.constantFrom('.', '..')

/**
 * Percent-encoding that also carries lone surrogates, as the generalized UTF-8 bytes a careless client
 * would send (`encodeURIComponent` throws on them, URLSearchParams turns them into U+FFFD).
 */
function percentEncode(text: string): string {
  let out = ''
  for (const char of text) {
    const code = char.charCodeAt(0)
    if (char.length === 1 && code >= 0xd800 && code <= 0xdfff) {
      out += [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('')
    } else out += encodeURIComponent(char)
  }
  return out
}

const segment = fc.oneof(
  fc.constantFrom('S-1', 'S-2', 'X', 'a.b_c-9', '0190a0a0-0000-7000-8000-000000000000'),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('..', '%2e%2e', '__proto__', 'constructor', ' ', 'x'.repeat(65), '%00', '😀'),
  unclean,
)
/** The documented (method, path) pairs, most requests aim at one of them. */
const routes: Array<[string, string]> = [
  ['POST', '/shipments/{}/commands'], ['POST', '/shipments/{}/commands'], ['POST', '/shipments/{}/commands'],
  ['GET', '/commands/{}'], ['GET', '/shipments/{}'], ['GET', '/shipments/{}/events'], ['GET', '/shipments'], ['GET', '/events'],
  ['GET', '/health'], ['GET', '/ready'], ['GET', '/shipments/{}/commands'], ['GET', '/machines/shipment'], ['GET', '/stats'], ['GET', '/admin/parked'], ['POST', '/admin/parked/{}/retry'], ['POST', '/admin/parked/{}/discard'],
]
const templates = ['/shipments/{}/commands', '/commands/{}', '/shipments/{}', '/shipments/{}/events', '/shipments', '/events', '/health', '/ready', '/admin/parked', '/admin/parked/{}/retry', '/admin/parked/{}/discard', '/{}', '/shipments/{}/{}']
const query = fc.dictionary(
  fc.constantFrom('version', 'at', 'from', 'to', 'limit', 'cursor', 'state', 'truckId', 'after', '__proto__', 'x'),
  fc.oneof(fc.string({ maxLength: 30 }), fc.integer().map(String), fc.constantFrom('2026-11-27T10:00:00Z', '-1', '1e9', 'registered'), noInstant, unclean, dotId),
  { maxKeys: 3 },
)
const commandish = fc.record(
  {
    type: fc.oneof(fc.constantFrom('REGISTER', 'ASSIGN', 'UNASSIGN', 'SHIP', 'DELIVER', 'CANCEL', 'register', ''), fc.string(), fc.integer()),
    truckId: fc.oneof(fc.constantFrom('T1', 'T 1'), fc.string({ maxLength: 70 }), fc.integer(), fc.constant(null), dotId, unclean),
    origin: fc.oneof(fc.string({ maxLength: 210 }), fc.integer(), unclean),
    scannedAt: fc.oneof(fc.constantFrom('2026-11-27T10:00:00Z', 'yesterday'), fc.string(), noInstant),
    operatorId: fc.oneof(fc.string({ maxLength: 5 }), unclean),
    extra: fc.anything(),
  },
  { requiredKeys: [] },
)
const valid = fc.constantFrom(
  { type: 'REGISTER' }, { type: 'ASSIGN', truckId: 'T1' }, { type: 'ASSIGN', truckId: 'T2' }, { type: 'UNASSIGN' },
  { type: 'SHIP' }, { type: 'DELIVER', receivedBy: 'R' }, { type: 'CANCEL' }, { type: 'REGISTER', origin: 'A', scannedAt: '2026-11-27T10:00:00Z' },
)
/** A valid command with one text field made unclean, or with a timestamp that is no instant. */
const almostValid = fc.oneof(
  fc.tuple(fc.constantFrom('REGISTER', 'CANCEL', 'DELIVER'), unclean).map(([type, text]) => JSON.stringify(type === 'REGISTER' ? { type, origin: text } : type === 'CANCEL' ? { type, reason: text } : { type, receivedBy: text })),
  fc.tuple(valid, noInstant).map(([b, scannedAt]) => JSON.stringify({ ...b, scannedAt })),
  fc.tuple(valid, unclean).map(([b, operatorId]) => JSON.stringify({ ...b, operatorId })),
  dotId.map((truckId) => JSON.stringify({ type: 'ASSIGN', truckId })),
)
const body = fc.oneof(
  { weight: 3, arbitrary: valid.map((b) => JSON.stringify(b)) },
  { weight: 2, arbitrary: almostValid },
  commandish.map((b) => JSON.stringify(b)),
  fc.json({ maxDepth: 3 }),
  fc.constantFrom('{"type":"SHIP","__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}},"type":"SHIP"}', '{', '', 'null', '[]', '"x"'),
  fc.string({ maxLength: 100 }),
)
const headers = fc.record(
  {
    authorization: fc.oneof(
      { weight: 8, arbitrary: fc.constant(`Bearer ${bootstrapToken}`) },
      { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
      { weight: 1, arbitrary: fc.constantFrom('Bearer wb_nope', '') },
    ),
    'content-type': fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/problem+json'),
    'idempotency-key': fc.oneof(fc.string({ maxLength: 300 }), fc.constantFrom('k1', 'k2')),
    prefer: fc.constantFrom('respond-async', 'wait=1', 'x'),
    'if-none-match': fc.constantFrom('W/"1"', '*'),
    'x-request-id': hostileRequestId,
  },
  { requiredKeys: ['authorization'] },
)

t.test('every route, thousands of arbitrary requests: documented status, no 5xx, no pollution, no stray writes', async (t) => {
  // No load shedding: the machine running the tests is shared, and overload is tested elsewhere.
  const api = await startTestService(t, { env: { WAYBILL_MAX_EVENT_LOOP_DELAY_MS: '60000' } })
  await api.command('S-1', { type: 'REGISTER' })
  const counts = () => sqliteDb(api.service.storage).prepare('SELECT (SELECT count(*) FROM events) || \',\' || (SELECT count(*) FROM commands)').pluck().get()
  const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).join()
  let runs = 0
  const statuses = new Map<number, number>()
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...routes) },
        { weight: 1, arbitrary: fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'), fc.constantFrom(...templates)) },
      ),
      fc.array(segment, { minLength: 2, maxLength: 2 }),
      query,
      headers,
      body,
      async ([method, template], segments, q, h, payload) => {
        let i = 0
        const path = template.replace(/\{\}/g, () => percentEncode(segments[i++]!))
        const search = Object.entries(q).map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`).join('&')
        const before = counts()
        const headers = Object.fromEntries(Object.entries(h).filter(([, v]) => /^[\t\x20-\x7e]*$/.test(String(v))))
        const res = await api.service.app!.inject({
          method: method as 'GET',
          url: search ? `${path}?${search}` : path,
          headers,
          ...(method === 'GET' ? {} : { payload }),
        })
        runs++
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
        const route = documented.find(([pattern, m]) => m === method && pattern.test(path))
        const allowed = route ? route[2] : [400, 401, 404, 413, 415]
        if (!allowed.includes(res.statusCode)) throw new Error(`${method} ${path}: ${res.statusCode} ${res.body.slice(0, 200)}`)
        if (res.statusCode >= 400 && !String(res.headers['content-type']).startsWith('application/problem+json')) throw new Error(`${method} ${path}: ${res.statusCode} without problem+json`)
        const requestId = String(res.headers['x-request-id'])
        if (!/^[\x21-\x7e]{1,128}$/.test(requestId)) throw new Error(`${method} ${path}: X-Request-Id ${JSON.stringify(requestId.slice(0, 40))} echoed`)
        if ('x-request-id' in headers && /^[\x21-\x7e]{1,128}$/.test(String(headers['x-request-id'])) && requestId !== headers['x-request-id']) throw new Error('a valid X-Request-Id was not kept')
        if (Object.getOwnPropertyNames(Object.prototype).join() !== prototypeKeys || ({} as Record<string, unknown>).polluted !== undefined) throw new Error('Object.prototype was polluted')
        const wrote = counts() !== before
        if (wrote && !(route?.[1] === 'POST' && route[0].test('/shipments/x/commands') && writes.has(res.statusCode))) throw new Error(`${method} ${path}: ${res.statusCode} but something was written`)
      },
    ),
    { numRuns: 5000 },
  )
  t.equal(runs, 5000)
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`)
  t.ok([...statuses.keys()].every((s) => s < 500), 'no 5xx at all')
  // Whatever was taken in is clean: no unclean text, no `.`/`..` id, no hostile request id, and the
  // log still verifies against the read model.
  const db = sqliteDb(api.service.storage)
  const stored = db.prepare("SELECT stream_id AS id, data, metadata FROM events UNION ALL SELECT stream_id, payload, metadata FROM commands").all() as Array<{ id: string; data: string; metadata: string }>
  for (const row of stored) {
    const values = [row.id, JSON.parse(row.data), JSON.parse(row.metadata)]
    if (findUncleanText(values) !== null || ['.', '..'].includes(row.id) || ['.', '..'].includes(JSON.parse(row.data).truckId)) t.fail(`stored: ${JSON.stringify(values)}`)
    const requestId = JSON.parse(row.metadata).requestId
    if (requestId !== undefined && !/^[\x21-\x7e]{1,128}$/.test(requestId)) t.fail(`request id stored: ${JSON.stringify(requestId).slice(0, 60)}`)
  }
  t.ok(stored.length > 1, `${stored.length} stored rows checked`)
  t.same((await verify(api.service.storage.store)).problems, [], 'verify passes after the run')
})
