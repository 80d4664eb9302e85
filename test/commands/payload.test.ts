import { join } from 'node:path'
import t from 'tap'
import { InvalidStoredCommandError, storedShipmentCommand } from '../../src/commands/payload.js'
import { openStorage } from '../../src/storage.js'
import { toCommand, type CommandRow } from '../../src/store/inbox.js'
import { sqliteDb } from '../helpers/db.js'
import { localLoop } from '../helpers/decider.js'
import { eventually, tempDir } from '../helpers/service.js'

// The inbox → machine boundary: a stored payload becomes a command only through the schema.
t.test('storedShipmentCommand accepts what the route stores and refuses anything else', async (t) => {
  // A `commands` row as stored, read back the way the inbox reads it (text that is not JSON included).
  const row = (payload: string, type = 'ASSIGN') => {
    const stored: CommandRow = {
      seq: 1, command_id: 'c', stream_id: 'S', partition: 0, type, payload, metadata: '{"deviceId":"d"}', device_id: 'd', idempotency_key: null, request_hash: null,
      received_at: 1, status: 'pending', reason: null, detail: null, stream_version: null, event_position: null, decided_at: null, attempts: 0, bypass: 0, late: 0, device_seq: null,
    }
    return toCommand(stored)
  }
  t.same(storedShipmentCommand(row('{"type":"ASSIGN","truckId":"T1"}')), { type: 'ASSIGN', truckId: 'T1' })
  t.same(storedShipmentCommand(row('{"type":"REGISTER"}', 'REGISTER')), { type: 'REGISTER' })
  for (const [payload, type] of [
    ['{"type":"ASSIGN","truckId":5}', 'ASSIGN'],
    ['{"type":"ASSIGN"}', 'ASSIGN'],
    ['{"type":"ASSIGN","truckId":"T1","extra":1}', 'ASSIGN'],
    ['{"type":"FLY"}', 'FLY'],
    ['{"type":"SHIP"}', 'ASSIGN'],
    ['not json', 'SHIP'],
  ] as const) {
    t.throws(() => storedShipmentCommand(row(payload, type)), InvalidStoredCommandError, `${payload} (${type}) is refused`)
  }
})

t.test('a stored payload that is not a command parks its shipment instead of reaching the machine', async (t) => {
  const storage = await openStorage({ databaseFile: join(tempDir(t), 'p.db'), databaseUrl: undefined, busyTimeoutMs: 100, bootstrapToken: undefined })
  t.teardown(() => storage.close())
  const { store } = storage
  // The drain loop of one process (no Redis), on the wall clock like the service's.
  const loop = localLoop(store, { batchMax: 100, snapshotEvery: 16, clock: { now: Date.now(), tick: true } })
  const { worker, submit } = loop
  t.teardown(() => worker.stop())
  await loop.claim('me', 0)
  await submit('BAD', { type: 'REGISTER' })
  await submit('GOOD', { type: 'REGISTER' })
  await worker.kick()
  // A pending row changed behind the service's back: an ASSIGN whose truck id is a number.
  const bad = await submit('BAD', { type: 'ASSIGN', truckId: 'T1' })
  sqliteDb(storage).prepare(`UPDATE commands SET payload = '{"type":"ASSIGN","truckId":5}' WHERE command_id = ?`).run(bad.commandId)
  void worker.kick()
  await eventually(() => store.parking.get('BAD'), 10_000, 'the shipment to be parked')
  t.match(await store.parking.get('BAD'), { commandId: bad.commandId, error: /InvalidStoredCommandError: .*truckId/ })
  t.same((await store.events.readStream('BAD')).map((e) => e.type), ['ShipmentRegistered'], 'the machine never decided it')
  await submit('GOOD', { type: 'ASSIGN', truckId: 'T2' })
  await worker.kick()
  t.same((await store.events.readStream('GOOD')).map((e) => e.type), ['ShipmentRegistered', 'TruckAssigned'], 'other shipments keep flowing')
  const discarded = await store.parking.discard('BAD', 'admin', Date.now())
  t.ok(discarded, 'an admin can discard it')
  t.equal(await store.inbox.countPending(), 0)
})
