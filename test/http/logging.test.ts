import { Writable } from 'node:stream'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { startService } from '../../src/service.js'
import { startRedis } from '../helpers/redis.js'
import { bootstrapToken, tempDir, testConfig } from '../helpers/service.js'

// What a depot's log holds at each level: at info one line per command (request id, device, the
// shipment or truck, type, outcome or reason, latency) and one per batch, a refused request, and
// nothing for a plain read; at debug also each request's start and end and each batch item.

type Line = Record<string, unknown> & { msg: string }

async function serviceLogging(t: Test, level: 'info' | 'debug') {
  const redis = await startRedis(t)
  const lines: Line[] = []
  const sink = new Writable({ write: (chunk, _encoding, done) => void (lines.push(JSON.parse(String(chunk)) as Line), done()) })
  const config = testConfig({ REDIS_URL: redis.url, WAYBILL_DATA_DIR: tempDir(t), WAYBILL_LOG_LEVEL: level })
  const service = await startService(config, { api: true, listen: false, logger: pino({ level }, sink) })
  t.teardown(() => service.close())
  const app = service.app!
  const admin = { authorization: `Bearer ${bootstrapToken}` }
  const token = (await app.inject({ method: 'POST', url: '/admin/tokens', headers: admin, payload: { deviceId: 'dock-1', role: 'scanner' } })).json().token as string
  const scanner = { authorization: `Bearer ${token}` }
  return { lines, app, scanner, admin, since: (mark: number) => lines.slice(mark).filter((l) => 'reqId' in l && l.msg !== 'token created') }
}

t.test('info: one line per command, per batch, per refused request; none for a read', async (t) => {
  const { lines, app, scanner, since } = await serviceLogging(t, 'info')

  let mark = lines.length
  const registered = await app.inject({ method: 'POST', url: '/shipments/LOG-1/commands', headers: { ...scanner, 'x-request-id': 'scan-0001' }, payload: { type: 'REGISTER' } })
  t.equal(registered.statusCode, 201)
  t.same(since(mark).map((l) => l.msg), ['command'], 'a command: exactly one line')
  t.match(since(mark)[0], { reqId: 'scan-0001', deviceId: 'dock-1', shipmentId: 'LOG-1', type: 'REGISTER', answer: 'decided', outcome: 'accepted', commandId: String, ms: Number })

  mark = lines.length
  t.equal((await app.inject({ method: 'POST', url: '/shipments/LOG-1/commands', headers: scanner, payload: { type: 'SHIP' } })).statusCode, 409)
  t.same(since(mark).map((l) => l.msg), ['command'], 'a rejected command: its one line, not a second "refused" one')
  t.match(since(mark)[0], { type: 'SHIP', outcome: 'rejected', reason: 'invalid_transition' })

  mark = lines.length
  t.equal((await app.inject({ method: 'POST', url: '/trucks/TL-1/commands', headers: scanner, payload: { type: 'OPEN', capacity: 3 } })).statusCode, 201)
  t.match(since(mark), [{ msg: 'command', truckId: 'TL-1', type: 'OPEN', outcome: 'accepted' }], 'a truck command names the truck')

  mark = lines.length
  t.equal((await app.inject({ method: 'GET', url: '/shipments/LOG-1', headers: scanner })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200)
  t.same(since(mark), [], 'reads and probes: nothing at info')

  mark = lines.length
  t.equal((await app.inject({ method: 'POST', url: '/shipments/LOG-1/commands', headers: scanner, payload: { type: 'TELEPORT' } })).statusCode, 400)
  t.equal((await app.inject({ method: 'GET', url: '/shipments', headers: { authorization: 'Bearer wb_unknown-token' } })).statusCode, 401)
  t.match(since(mark), [
    { msg: 'request refused', method: 'POST', url: '/shipments/LOG-1/commands', statusCode: 400, reqId: String },
    { msg: 'request refused', method: 'GET', url: '/shipments', statusCode: 401 },
  ], 'a refused request (bad input, a bad token): one line')

  mark = lines.length
  const items = [
    { seq: 1, shipmentId: 'LOG-2', command: { type: 'REGISTER' } },
    { seq: 2, shipmentId: 'LOG-2', command: { type: 'DELIVER' } },
    { seq: 3, shipmentId: 'LOG-3', command: 'not a command' },
  ]
  t.equal((await app.inject({ method: 'POST', url: '/batches', headers: scanner, payload: { items } })).statusCode, 200)
  t.same(since(mark).map((l) => l.msg), ['batch'], 'a batch: one line, whatever its size')
  t.match(since(mark)[0], { deviceId: 'dock-1', items: 3, first: 1, last: 3, statuses: { 201: 1, 409: 1, 400: 1 }, ms: Number })
})

t.test('debug: each request starts and ends, each batch item has its line', async (t) => {
  const { lines, app, scanner, since } = await serviceLogging(t, 'debug')
  let mark = lines.length
  t.equal((await app.inject({ method: 'GET', url: '/shipments', headers: scanner })).statusCode, 200)
  t.match(since(mark), [
    { msg: 'incoming request', method: 'GET', url: '/shipments' },
    { msg: 'request completed', statusCode: 200, ms: Number },
  ])
  t.equal(since(mark)[0]!.reqId, since(mark)[1]!.reqId, 'both lines carry the request id')

  mark = lines.length
  const items = [
    { seq: 1, shipmentId: 'LOG-D', command: { type: 'REGISTER' } },
    { seq: 2, truckId: 'TD-1', command: { type: 'OPEN', capacity: 1 } },
    { seq: 3, shipmentId: 'LOG-D', command: null },
  ]
  t.equal((await app.inject({ method: 'POST', url: '/batches', headers: scanner, payload: { items } })).statusCode, 200)
  const mine = since(mark).filter((l) => l.msg !== 'incoming request' && l.msg !== 'request completed')
  t.match(mine, [
    { msg: 'batch', items: 3 },
    { msg: 'batch item', seq: 1, shipmentId: 'LOG-D', type: 'REGISTER', status: 201, outcome: 'accepted', commandId: String },
    { msg: 'batch item', seq: 2, truckId: 'TD-1', type: 'OPEN', status: 201 },
    { msg: 'batch item', seq: 3, shipmentId: 'LOG-D', status: 400, outcome: 'rejected', reason: 'invalid_request' },
  ])
  t.notOk(since(mark).some((l) => l.msg === 'request completed' && l.url === '/batches'), 'the batch line is its request’s line')
})
