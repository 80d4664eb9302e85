import t from 'tap'
import { sqliteDb } from '../helpers/db.js'
import { bootstrapToken, startTestService } from '../helpers/service.js'

// I6: no input, however malformed, produces a 500 or changes any state.
t.test('bad input is a 4xx problem and changes nothing', async (t) => {
  const api = await startTestService(t)
  await api.command('B-1', { type: 'REGISTER' })
  const count = () =>
    sqliteDb(api.service.storage).prepare('SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM commands) AS commands').get()
  const before = count()

  const raw = async (method: string, url: string, payload: string | Buffer | undefined, headers: Record<string, string>) => {
    const res = await api.service.app!.inject({ method: method as 'POST', url, payload, headers: { authorization: `Bearer ${bootstrapToken}`, ...headers } })
    return { status: res.statusCode, type: String(res.headers['content-type']), body: res.body }
  }
  const json = { 'content-type': 'application/json' }
  const cases: Array<[string, Promise<{ status: number; type: string; body: string }>, number]> = [
    ['malformed JSON', raw('POST', '/shipments/B-1/commands', '{"type":"ASSIGN",', json), 400],
    ['empty JSON body', raw('POST', '/shipments/B-1/commands', '', json), 400],
    ['JSON that is not an object', raw('POST', '/shipments/B-1/commands', '"SHIP"', json), 400],
    ['array body', raw('POST', '/shipments/B-1/commands', '[{"type":"SHIP"}]', json), 400],
    ['unknown type', raw('POST', '/shipments/B-1/commands', '{"type":"TELEPORT"}', json), 400],
    ['lower-case type', raw('POST', '/shipments/B-1/commands', '{"type":"ship"}', json), 400],
    ['extra property', raw('POST', '/shipments/B-1/commands', '{"type":"SHIP","speed":"fast"}', json), 400],
    ['truck id of the wrong type', raw('POST', '/shipments/B-1/commands', '{"type":"ASSIGN","truckId":42}', json), 400],
    ['bad truck id', raw('POST', '/shipments/B-1/commands', '{"type":"ASSIGN","truckId":"T 1"}', json), 400],
    ['missing truck id', raw('POST', '/shipments/B-1/commands', '{"type":"ASSIGN"}', json), 400],
    ['free text over 200 characters', raw('POST', '/shipments/B-1/commands', JSON.stringify({ type: 'CANCEL', reason: 'x'.repeat(201) }), json), 400],
    ['scannedAt not ISO 8601', raw('POST', '/shipments/B-1/commands', '{"type":"SHIP","scannedAt":"yesterday"}', json), 400],
    ['bad shipment id', raw('POST', '/shipments/B%201/commands', '{"type":"SHIP"}', json), 400],
    ['shipment id too long', raw('POST', `/shipments/${'x'.repeat(65)}/commands`, '{"type":"SHIP"}', json), 400],
    ['oversize body', raw('POST', '/shipments/B-1/commands', JSON.stringify({ type: 'CANCEL', reason: 'x'.repeat(17 * 1024) }), json), 413],
    ['text/plain', raw('POST', '/shipments/B-1/commands', 'SHIP', { 'content-type': 'text/plain' }), 415],
    ['form encoded', raw('POST', '/shipments/B-1/commands', 'type=SHIP', { 'content-type': 'application/x-www-form-urlencoded' }), 415],
    ['__proto__ payload', raw('POST', '/shipments/B-1/commands', '{"type":"SHIP","__proto__":{"polluted":true}}', json), 400],
    ['constructor.prototype payload', raw('POST', '/shipments/B-1/commands', '{"type":"SHIP","constructor":{"prototype":{"polluted":true}}}', json), 400],
    ['bad idempotency key', raw('POST', '/shipments/B-1/commands', '{"type":"SHIP"}', { ...json, 'idempotency-key': 'has space' }), 400],
    ['idempotency key too long', raw('POST', '/shipments/B-1/commands', '{"type":"SHIP"}', { ...json, 'idempotency-key': 'k'.repeat(256) }), 400],
    ['no token', raw('POST', '/shipments/B-1/commands', '{"type":"SHIP"}', { ...json, authorization: '' }), 401],
    ['wrong token', raw('POST', '/shipments/B-1/commands', '{"type":"SHIP"}', { ...json, authorization: 'Bearer nope' }), 401],
    ['unknown route', raw('GET', '/nowhere', undefined, {}), 404],
    ['bad command id', raw('GET', '/commands/%00', undefined, {}), 400],
  ]
  for (const [name, response, status] of cases) {
    const res = await response
    t.equal(res.status, status, `${name}: ${status}`)
    t.match(res.type, /^application\/problem\+json/, `${name}: problem+json`)
    const body = JSON.parse(res.body)
    t.match(body, { type: /^\/problems\//, title: String, status }, `${name}: RFC 9457 fields`)
    t.notMatch(res.body, /at .*\.(ts|js):\d+/, `${name}: no stack trace`)
  }
  t.same(count(), before, 'nothing was written')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is not polluted')
  t.match((await api.request('GET', '/shipments/B-1')).body, { state: 'registered', version: 1 })
})
