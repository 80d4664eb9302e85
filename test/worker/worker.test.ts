import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import t from 'tap'
import { parseFaults, type Faults } from '../../src/faults.js'
import type { InboxCommand } from '../../src/inbox/inbox.js'
import { openStorage, type Storage } from '../../src/storage.js'
import { ActorCache, snapshotSchema, type HydrationSource } from '../../src/worker/actor.js'
import type { CommandReport } from '../../src/worker/report.js'
import { Worker } from '../../src/worker/worker.js'
import { tempDir } from '../helpers/service.js'

/** A worker on a real SQLite file, no Redis: partitions are granted by hand and drained by `kick`. */
function setup(t: { teardown(fn: () => unknown): void }, options: { batchMax?: number; snapshotEvery?: number; storage?: Storage; faults?: Faults } = {}) {
  const storage = options.storage ?? openStorage({ databaseFile: join(tempDir(t), 'w.db'), busyTimeoutMs: 100, bootstrapToken: undefined })
  if (!options.storage) t.teardown(() => storage.close())
  const hydrations: HydrationSource[] = []
  const reports: CommandReport[] = []
  const fenced: number[] = []
  const errors: unknown[] = []
  let clock = 1_000_000
  const actors = new ActorCache(storage.store, { size: 100, onHydrate: (s) => hydrations.push(s) })
  const worker = new Worker(
    {
      db: storage.db, store: storage.store, inbox: storage.inbox, epochs: storage.epochs, projector: storage.projector, parking: storage.parking, actors,
      faults: options.faults,
      clock: () => ++clock,
      log: { warn: () => {}, error: (obj) => errors.push(obj) },
      onDecided: (r) => reports.push(...r),
      onFenced: (p) => fenced.push(p),
    },
    { partitions: 1, batchMax: options.batchMax ?? 256, snapshotEvery: options.snapshotEvery ?? 16, lingerMs: 0, maxAttempts: 3, intakeWaitMs: 2000 },
  )

  const submit = (streamId: string, payload: { type: string } & Record<string, unknown>): InboxCommand =>
    storage.inbox.submitNow({
      commandId: randomUUID(), streamId, partition: 0, payload, metadata: { deviceId: 'd1' },
      idempotencyKey: null, requestHash: null, receivedAt: clock,
    })[0]!.command
  return { storage, worker, actors, hydrations, reports, fenced, errors, submit }
}

t.test('a batch decides each shipment in arrival order, across shipments, in one pass', async (t) => {
  const { storage, worker, reports, submit } = setup(t)
  worker.grant(0, storage.epochs.claim(0, 'me', 1))
  for (const id of ['A', 'B']) submit(id, { type: 'REGISTER' })
  for (const id of ['A', 'B']) submit(id, { type: 'ASSIGN', truckId: 'T1' })
  for (const id of ['A', 'B']) submit(id, { type: 'SHIP' })
  submit('A', { type: 'DELIVER' })
  submit('A', { type: 'DELIVER' })
  await worker.kick()
  t.same(reports.map((r) => `${r.shipmentId}:${r.type}:${r.outcome}`), [
    'A:REGISTER:accepted', 'B:REGISTER:accepted', 'A:ASSIGN:accepted', 'B:ASSIGN:accepted',
    'A:SHIP:accepted', 'B:SHIP:accepted', 'A:DELIVER:accepted', 'A:DELIVER:rejected',
  ])
  t.same(storage.store.readStream('A').map((e) => [e.version, e.type]), [
    [1, 'ShipmentRegistered'], [2, 'TruckAssigned'], [3, 'ShipmentShipped'], [4, 'ShipmentDelivered'],
  ])
  t.match(storage.queries.get('A'), { state: 'delivered', version: 4, truckId: 'T1' })
  t.match(storage.queries.get('B'), { state: 'shipped', version: 3 })
  t.equal(storage.inbox.countPending(), 0)
  t.match(reports.at(-1), { reason: 'invalid_transition', shipment: { state: 'delivered' }, allowed: [] })
})

t.test('small batches keep the order too', async (t) => {
  const { storage, worker, submit } = setup(t, { batchMax: 2 })
  worker.grant(0, storage.epochs.claim(0, 'me', 1))
  for (let i = 0; i < 5; i++) {
    submit(`S${i}`, { type: 'REGISTER' })
    submit(`S${i}`, { type: 'ASSIGN', truckId: 'T9' })
    submit(`S${i}`, { type: 'SHIP' })
  }
  await worker.kick()
  for (let i = 0; i < 5; i++) t.match(storage.queries.get(`S${i}`), { state: 'shipped' })
})

t.test('rejections are outcomes, never events', async (t) => {
  const { storage, worker, submit } = setup(t)
  worker.grant(0, storage.epochs.claim(0, 'me', 1))
  const notFound = submit('X', { type: 'SHIP' })
  submit('X', { type: 'REGISTER' })
  const twice = submit('X', { type: 'REGISTER' })
  await worker.kick()
  t.match(storage.inbox.get(notFound.commandId), { status: 'rejected', reason: 'not_found', streamVersion: 0, eventPosition: null })
  t.match(storage.inbox.get(twice.commandId), { status: 'rejected', reason: 'already_registered', streamVersion: 1 })
  t.equal(storage.store.readStream('X').length, 1)
})

t.test('snapshots: persisted every N events, restored with the tail, ignored from another machine version', async (t) => {
  const { storage, worker, actors, hydrations, submit } = setup(t, { snapshotEvery: 4 })
  worker.grant(0, storage.epochs.claim(0, 'me', 1))
  submit('H', { type: 'REGISTER' })
  for (let i = 0; i < 5; i++) {
    submit('H', { type: 'ASSIGN', truckId: 'T1' })
    submit('H', { type: 'UNASSIGN' })
  }
  await worker.kick()
  t.equal(storage.store.streamVersion('H'), 11)
  t.match(storage.store.loadSnapshot('H'), { version: 8, schema: snapshotSchema })
  hydrations.length = 0
  const cold = actors.hydrate('H')
  t.same(hydrations, ['snapshot'])
  t.equal(cold.version, 11)
  t.equal(cold.snapshot.context.truckId, null)

  // A snapshot written by another machine version (here: nonsense for this one) must not be used.
  storage.store.saveSnapshot('H', { version: 11, schema: 'shipment@0', state: { value: 'delivered', context: { truckId: 'BOGUS' } } })
  hydrations.length = 0
  const replayed = actors.hydrate('H')
  t.same(hydrations, ['replay'])
  t.equal(replayed.version, 11)
  t.equal(replayed.snapshot.context.truckId, null)
  t.same(replayed.snapshot.value, cold.snapshot.value)
})

t.test('a new owner fences the old one out and voids its cache', async (t) => {
  const a = setup(t)
  a.worker.grant(0, a.storage.epochs.claim(0, 'a', 1))
  a.submit('F', { type: 'REGISTER' })
  await a.worker.kick()
  t.equal(a.actors.size, 1, 'A caches the shipment it decided')

  // B takes the partition over (same file) and moves the shipment on.
  const b = setup(t, { storage: a.storage })
  b.worker.grant(0, a.storage.epochs.claim(0, 'b', 2))
  b.submit('F', { type: 'ASSIGN', truckId: 'T1' })
  await b.worker.kick()
  t.match(a.storage.queries.get('F'), { state: 'assigned', version: 2 })

  // A, still believing it owns the partition, tries to write: fenced, nothing written.
  const stale = a.submit('F', { type: 'CANCEL' })
  await a.worker.kick()
  t.same(a.fenced, [0])
  t.equal(a.worker.held().size, 0, 'A gave the partition up')
  t.match(a.storage.inbox.get(stale.commandId), { status: 'pending' })

  // A gets the partition back under a new epoch: its cached (epoch 1) actor must not be used.
  a.hydrations.length = 0
  a.worker.grant(0, a.storage.epochs.claim(0, 'a', 3))
  await a.worker.kick()
  t.notOk(a.hydrations.includes('cache'), 'the old epoch cache entry was not used')
  t.match(a.storage.inbox.get(stale.commandId), { status: 'accepted', streamVersion: 3 })
  t.same(a.storage.store.readStream('F').map((e) => e.type), ['ShipmentRegistered', 'TruckAssigned', 'ShipmentCancelled'])
})

t.test('a failed batch leaves no trace and is retried in place', async (t) => {
  const { storage, worker, reports, errors, submit } = setup(t)
  worker.grant(0, storage.epochs.claim(0, 'me', 1))
  storage.db.exec(`CREATE TEMP TRIGGER fail_once BEFORE INSERT ON main.events BEGIN SELECT RAISE(ABORT, 'injected failure'); END`)
  submit('R', { type: 'REGISTER' })
  submit('R', { type: 'ASSIGN', truckId: 'T1' })
  const drained = worker.kick()
  while (errors.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  t.equal(storage.inbox.countPending(), 2, 'both commands still pending after the failure')
  t.equal(storage.store.readStream('R').length, 0)
  storage.db.exec('DROP TRIGGER temp.fail_once')
  await drained
  t.same(reports.map((r) => r.outcome), ['accepted', 'accepted'])
  t.match(storage.queries.get('R'), { state: 'assigned' })
})

t.test('a worker holding no partition decides nothing', async (t) => {
  const { storage, worker, submit } = setup(t)
  submit('N', { type: 'REGISTER' })
  await worker.kick()
  t.equal(storage.inbox.countPending(), 1)
})

const newCommand = (streamId: string, payload: { type: string } & Record<string, unknown>) => ({
  commandId: randomUUID(), streamId, partition: 0, payload, metadata: { deviceId: 'd1' },
  idempotencyKey: null, requestHash: null, receivedAt: 1,
})

t.test('submitted commands are committed and decided in one cycle, in submission order', async (t) => {
  const { storage, worker, reports } = setup(t)
  worker.grant(0, storage.epochs.claim(0, 'me', 1))
  const results = await Promise.all([
    worker.submit(newCommand('I', { type: 'REGISTER' })),
    worker.submit(newCommand('I', { type: 'ASSIGN', truckId: 'T1' })),
    worker.submit(newCommand('I', { type: 'SHIP' })),
  ])
  t.same(results.map((r) => r.kind), ['new', 'new', 'new'])
  t.ok(results[0]!.command.seq < results[1]!.command.seq && results[1]!.command.seq < results[2]!.command.seq)
  t.same(reports.map((r) => `${r.type}:${r.outcome}`), ['REGISTER:accepted', 'ASSIGN:accepted', 'SHIP:accepted'])
  const decidedAt = new Set(results.map((r) => storage.inbox.get(r.command.commandId)!.decidedAt))
  t.equal(decidedAt.size, 1, 'one cycle (one transaction) decided all three')
})

t.test('a worker that holds no partition still commits what is submitted to it', async (t) => {
  const { storage, worker } = setup(t)
  const [result] = await Promise.all([worker.submit(newCommand('J', { type: 'REGISTER' }))])
  t.equal(result!.kind, 'new')
  t.match(storage.inbox.get(result!.command.commandId), { status: 'pending' })
})

t.test('when a cycle fails, its submissions are still committed on their own', async (t) => {
  const { storage, worker, errors } = setup(t)
  worker.grant(0, storage.epochs.claim(0, 'me', 1))
  storage.db.exec(`CREATE TEMP TRIGGER fail_events BEFORE INSERT ON main.events BEGIN SELECT RAISE(ABORT, 'injected failure'); END`)
  const result = await worker.submit(newCommand('K', { type: 'REGISTER' }))
  t.equal(result.kind, 'new')
  t.match(storage.inbox.get(result.command.commandId), { status: 'pending' }, 'durable although its decision failed')
  t.ok(errors.length >= 1)
  storage.db.exec('DROP TRIGGER temp.fail_events')
  await worker.kick()
  t.match(storage.inbox.get(result.command.commandId), { status: 'accepted' })
})

t.test('a stopped worker refuses submissions', async (t) => {
  const { worker } = setup(t)
  await worker.stop()
  await t.rejects(worker.submit(newCommand('L', { type: 'REGISTER' })), { code: 'WORKER_STOPPED' })
})

t.test('a poison command is retried in place, then its shipment is parked while others flow', async (t) => {
  const { storage, worker, reports, submit } = setup(t, { faults: parseFaults('poison:P') })
  worker.grant(0, storage.epochs.claim(0, 'me', 1))
  submit('Q', { type: 'REGISTER' })
  const poison = submit('P', { type: 'REGISTER' })
  const behind = submit('P', { type: 'ASSIGN', truckId: 'T1' })
  submit('Q', { type: 'ASSIGN', truckId: 'T1' })
  for (let i = 0; i < 10 && !storage.parking.get('P'); i++) await worker.kick()
  t.match(storage.parking.get('P'), { commandId: poison.commandId, attempts: 3, waiting: 2, error: /injected failure/ })
  t.match(storage.inbox.get(poison.commandId), { status: 'pending', attempts: 3 })
  t.match(storage.inbox.get(behind.commandId), { status: 'pending' }, 'the command behind it waits, in order')
  t.match(storage.queries.get('Q'), { state: 'assigned' }, 'the other shipment flowed')
  t.notOk(reports.some((r) => r.shipmentId === 'P'), 'nothing of P was decided')

  // An admin discards the poison command: it becomes a rejection and the rest of P flows again.
  const discarded = storage.parking.discard('P', 'admin-1', storage.store.streamVersion('P'), 99)
  t.equal(discarded?.commandId, poison.commandId)
  t.match(storage.inbox.get(poison.commandId), { status: 'rejected', reason: 'discarded', detail: /discarded by admin-1 after 3 failed attempts/ })
  await worker.kick()
  t.match(storage.inbox.get(behind.commandId), { status: 'pending' }, 'still poisoned: ASSIGN of P fails too')
})

t.test('an admin retry unparks and the command is tried again', async (t) => {
  const faults = { poisoned: true }
  const { storage, worker, submit } = setup(t, {
    faults: { at: () => {}, ignoreLeases: false, poison: (id) => { if (faults.poisoned && id === 'R2') throw new Error('disk controller hiccup') } },
  })
  worker.grant(0, storage.epochs.claim(0, 'me', 1))
  const command = submit('R2', { type: 'REGISTER' })
  for (let i = 0; i < 10 && !storage.parking.get('R2'); i++) await worker.kick()
  t.ok(storage.parking.get('R2'), 'parked')
  faults.poisoned = false
  t.match(storage.parking.retry('R2'), { commandId: command.commandId })
  t.equal(storage.parking.count(), 0)
  await worker.kick()
  t.match(storage.inbox.get(command.commandId), { status: 'accepted', attempts: 0 })
})

t.test('a locked database delays decisions and submissions, and nothing is applied twice', async (t) => {
  const { storage, worker, reports } = setup(t)
  worker.grant(0, storage.epochs.claim(0, 'me', 1))
  // Another process takes the write lock (a second connection to the same file).
  const { default: Database } = await import('better-sqlite3')
  const other = new Database(storage.db.name)
  t.teardown(() => other.close())
  other.exec('BEGIN IMMEDIATE')
  const submitted = worker.submit(newCommand('LOCK', { type: 'REGISTER' }))
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(reports.length, 0, 'nothing decided while the lock is held')
  other.exec('COMMIT')
  const result = await submitted
  await worker.kick()
  t.equal(result.kind, 'new')
  t.match(storage.inbox.get(result.command.commandId), { status: 'accepted' })
  t.equal(storage.store.readStream('LOCK').length, 1, 'one event')
  t.equal(reports.filter((r) => r.shipmentId === 'LOCK').length, 1, 'one report')
})

t.test('a full disk refuses submissions and resumes when space is back', async (t) => {
  const { storage, worker } = setup(t)
  worker.grant(0, storage.epochs.claim(0, 'me', 1))
  await worker.submit(newCommand('FULL-0', { type: 'REGISTER' }))
  const pages = storage.db.pragma('page_count', { simple: true }) as number
  storage.db.pragma(`max_page_count = ${pages}`)
  const refused: unknown[] = []
  for (let i = 1; i <= 60; i++) await worker.submit(newCommand(`FULL-${i}`, { type: 'REGISTER', origin: 'x'.repeat(150) })).catch((e) => refused.push(e))
  t.ok(refused.length > 0, `${refused.length} submissions refused`)
  t.match(refused[0], { code: 'SQLITE_FULL' })
  storage.db.pragma('max_page_count = 1073741823')
  const after = await worker.submit(newCommand('FULL-after', { type: 'REGISTER' }))
  await worker.kick()
  t.match(storage.inbox.get(after.command.commandId), { status: 'accepted' })
  t.equal(storage.db.pragma('integrity_check', { simple: true }), 'ok')
})
