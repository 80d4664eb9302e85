import fc from 'fast-check'
import t from 'tap'
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
  [/^\/events$/, 'GET', [200, 400, 401, 403]],
  [/^\/health$/, 'GET', [200]],
  [/^\/ready$/, 'GET', [200, 401, 403]],
  [/^\/admin\/parked$/, 'GET', [200, 401, 403]],
  [/^\/admin\/parked\/[^/]+\/(retry|discard)$/, 'POST', [200, 400, 401, 403, 404, 413, 415]],
]
const writes = new Set([200, 201, 202, 404, 409])

const segment = fc.oneof(
  fc.constantFrom('S-1', 'S-2', 'X', 'a.b_c-9', '0190a0a0-0000-7000-8000-000000000000'),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('..', '%2e%2e', '__proto__', 'constructor', ' ', 'x'.repeat(65), '%00', '😀'),
)
/** The documented (method, path) pairs, most requests aim at one of them. */
const routes: Array<[string, string]> = [
  ['POST', '/shipments/{}/commands'], ['POST', '/shipments/{}/commands'], ['POST', '/shipments/{}/commands'],
  ['GET', '/commands/{}'], ['GET', '/shipments/{}'], ['GET', '/shipments/{}/events'], ['GET', '/shipments'], ['GET', '/events'],
  ['GET', '/health'], ['GET', '/ready'], ['GET', '/shipments/{}/commands'], ['GET', '/machines/shipment'], ['GET', '/stats'], ['GET', '/admin/parked'], ['POST', '/admin/parked/{}/retry'], ['POST', '/admin/parked/{}/discard'],
]
const templates = ['/shipments/{}/commands', '/commands/{}', '/shipments/{}', '/shipments/{}/events', '/shipments', '/events', '/health', '/ready', '/admin/parked', '/admin/parked/{}/retry', '/admin/parked/{}/discard', '/{}', '/shipments/{}/{}']
const query = fc.dictionary(
  fc.constantFrom('version', 'at', 'limit', 'cursor', 'state', 'truckId', 'after', '__proto__', 'x'),
  fc.oneof(fc.string({ maxLength: 30 }), fc.integer().map(String), fc.constantFrom('2026-11-27T10:00:00Z', '-1', '1e9', 'registered')),
  { maxKeys: 3 },
)
const commandish = fc.record(
  {
    type: fc.oneof(fc.constantFrom('REGISTER', 'ASSIGN', 'UNASSIGN', 'SHIP', 'DELIVER', 'CANCEL', 'register', ''), fc.string(), fc.integer()),
    truckId: fc.oneof(fc.constantFrom('T1', 'T 1'), fc.string({ maxLength: 70 }), fc.integer(), fc.constant(null)),
    origin: fc.oneof(fc.string({ maxLength: 210 }), fc.integer()),
    scannedAt: fc.oneof(fc.constantFrom('2026-11-27T10:00:00Z', 'yesterday'), fc.string()),
    operatorId: fc.string({ maxLength: 5 }),
    extra: fc.anything(),
  },
  { requiredKeys: [] },
)
const valid = fc.constantFrom(
  { type: 'REGISTER' }, { type: 'ASSIGN', truckId: 'T1' }, { type: 'ASSIGN', truckId: 'T2' }, { type: 'UNASSIGN' },
  { type: 'SHIP' }, { type: 'DELIVER', receivedBy: 'R' }, { type: 'CANCEL' }, { type: 'REGISTER', origin: 'A', scannedAt: '2026-11-27T10:00:00Z' },
)
const body = fc.oneof(
  { weight: 3, arbitrary: valid.map((b) => JSON.stringify(b)) },
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
  },
  { requiredKeys: ['authorization'] },
)

t.test('every route, thousands of arbitrary requests: documented status, no 5xx, no pollution, no stray writes', async (t) => {
  const api = await startTestService(t)
  await api.command('S-1', { type: 'REGISTER' })
  const counts = () => api.service.storage.db.prepare('SELECT (SELECT count(*) FROM events) || \',\' || (SELECT count(*) FROM commands)').pluck().get()
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
        const path = template.replace(/\{\}/g, () => encodeURIComponent(segments[i++]!))
        const search = new URLSearchParams(Object.entries(q)).toString()
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
})
