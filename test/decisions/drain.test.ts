import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { shipmentKind, type ShipmentCommand } from '../../machines/shipment/index.js'
import { ActorCache } from '../../src/decisions/actor-cache.js'
import { noFaults, parseFaults, type Faults } from '../../src/faults.js'
import { snapshotSchema } from '../../src/projections/actors.js'
import { openStorage, type Storage } from '../../src/storage.js'
import { ask } from '../../src/store/cycle.js'
import type { SqliteStore } from '../../src/store/sqlite/store.js'
import type { StoredSnapshot } from '../../src/store/types.js'
import { command, localLoop } from '../helpers/decider.js'
import { eventually, tempDir } from '../helpers/service.js'

/** A drain loop on a real SQLite file, no Redis: partitions are granted by hand and drained by `kick`. */
async function setup(t: { teardown(fn: () => unknown): void }, options: { batchMax?: number; snapshotEvery?: number; storage?: Storage; faults?: Faults; maxIntake?: number; lingerMs?: number } = {}) {
  const storage = options.storage ?? (await openStorage({ databaseFile: join(tempDir(t), 'w.db'), databaseUrl: undefined, busyTimeoutMs: 100, bootstrapToken: undefined }))
  if (!options.storage) t.teardown(() => storage.close())
  const store = storage.store as SqliteStore
  const loop = localLoop(store, options)
  const claim = async (owner: string, at: number) => {
    loop.clock.now = Math.max(loop.clock.now, at)
    return store.epochs.claim(0, owner, at)
  }
  /** Hydrates a stream cold, the way a cycle's `load` does. */
  const hydrate = async (streamId: string) => {
    const [loaded] = await store.cycle(function* () {
      return yield* ask({ op: 'load', streams: [streamId], schemas: ActorCache.schemasOf([streamId]) })
    })
    return loop.actors.hydrate(loaded!)
  }
  const saveSnapshot = (streamId: string, snapshot: StoredSnapshot) => store.sql.writeSync(() => store.ops.write({ appends: [], outcomes: [], snapshots: [{ streamId, snapshot }], waits: [] }))
  return { ...loop, storage, store, claim, hydrate, saveSnapshot }
}

t.test('a batch decides each shipment in arrival order, across shipments, in one pass', async (t) => {
  const { storage, store, worker, reports, submit, claim } = await setup(t)
  worker.grant(0, await claim('me', 1))
  for (const id of ['A', 'B']) await submit(id, { type: 'REGISTER' })
  for (const id of ['A', 'B']) await submit(id, { type: 'ASSIGN', truckId: 'T1' })
  for (const id of ['A', 'B']) await submit(id, { type: 'SHIP' })
  await submit('A', { type: 'DELIVER' })
  await submit('A', { type: 'DELIVER' })
  await worker.kick()
  t.same(reports.map((r) => `${r.subjectId}:${r.type}:${r.outcome}`), [
    'A:REGISTER:accepted', 'B:REGISTER:accepted', 'A:ASSIGN:accepted', 'B:ASSIGN:accepted',
    'A:SHIP:accepted', 'B:SHIP:accepted', 'A:DELIVER:accepted', 'A:DELIVER:rejected',
  ])
  t.same((await store.events.readStream('A')).map((e) => [e.version, e.type]), [
    [1, 'ShipmentRegistered'], [2, 'TruckAssigned'], [3, 'ShipmentShipped'], [4, 'ShipmentDelivered'],
  ])
  t.match(await storage.queries.get('A'), { state: 'delivered', version: 4, truckId: 'T1' })
  t.match(await storage.queries.get('B'), { state: 'shipped', version: 3 })
  t.equal(await store.inbox.countPending(), 0)
  t.match(reports.at(-1), { reason: 'invalid_transition', view: { state: 'delivered' }, allowed: [] })
})

t.test('small batches keep the order too', async (t) => {
  const { storage, worker, submit, claim } = await setup(t, { batchMax: 2 })
  worker.grant(0, await claim('me', 1))
  for (let i = 0; i < 5; i++) {
    await submit(`S${i}`, { type: 'REGISTER' })
    await submit(`S${i}`, { type: 'ASSIGN', truckId: 'T9' })
    await submit(`S${i}`, { type: 'SHIP' })
  }
  await worker.kick()
  for (let i = 0; i < 5; i++) t.match(await storage.queries.get(`S${i}`), { state: 'shipped' })
})

t.test('rejections are outcomes, never events', async (t) => {
  const { store, worker, submit, claim } = await setup(t)
  worker.grant(0, await claim('me', 1))
  const notFound = await submit('X', { type: 'SHIP' })
  await submit('X', { type: 'REGISTER' })
  const twice = await submit('X', { type: 'REGISTER' })
  await worker.kick()
  t.match(await store.inbox.get(notFound.commandId), { status: 'rejected', reason: 'not_found', streamVersion: 0, eventPosition: null })
  t.match(await store.inbox.get(twice.commandId), { status: 'rejected', reason: 'already_registered', streamVersion: 1 })
  t.equal((await store.events.readStream('X')).length, 1)
})

t.test('snapshots: persisted every N events, restored with the tail, ignored from another machine version', async (t) => {
  const { store, worker, hydrations, submit, claim, hydrate, saveSnapshot } = await setup(t, { snapshotEvery: 4 })
  const schema = snapshotSchema(shipmentKind)
  worker.grant(0, await claim('me', 1))
  await submit('H', { type: 'REGISTER' })
  for (let i = 0; i < 5; i++) {
    await submit('H', { type: 'ASSIGN', truckId: 'T1' })
    await submit('H', { type: 'UNASSIGN' })
  }
  await worker.kick()
  t.equal(await store.events.streamVersion('H'), 11)
  t.match(await store.events.loadSnapshot('H', schema), { version: 8, schema })
  hydrations.length = 0
  const cold = await hydrate('H')
  t.same(hydrations, ['snapshot'])
  t.equal(cold.version, 11)
  const truckOf = (actor: { snapshot: unknown }) => (actor.snapshot as { context: { truckId: string | null } }).context.truckId
  const valueOf = (actor: { snapshot: unknown }) => (actor.snapshot as { value: unknown }).value
  t.equal(truckOf(cold), null)

  // A snapshot written by another machine version (here: nonsense for this one) must not be used:
  // the newest checkpoint of this version is (checkpoints are kept, one every N events).
  await saveSnapshot('H', { version: 11, schema: 'shipment@0', state: { value: 'delivered', context: { truckId: 'BOGUS' } } })
  hydrations.length = 0
  const restored = await hydrate('H')
  t.same(hydrations, ['snapshot'])
  t.equal(restored.version, 11)
  t.equal(truckOf(restored), null)
  t.same(valueOf(restored), valueOf(cold))
  t.same(store.db.prepare("SELECT version FROM snapshots WHERE stream_id = 'H' AND schema = ? ORDER BY version").pluck().all(schema), [4, 8], 'every checkpoint is kept')

  // A checkpoint of machine version 1 is read by version 2 (which only added to it, and says so).
  const v2 = store.db.prepare("SELECT version, state FROM snapshots WHERE stream_id = 'H' AND schema = ? ORDER BY version DESC LIMIT 1").get(schema) as { version: number; state: string }
  store.db.prepare("DELETE FROM snapshots WHERE stream_id = 'H' AND schema = ?").run(schema)
  await saveSnapshot('H', { version: v2.version, schema: 'shipment@1', state: JSON.parse(v2.state) })
  hydrations.length = 0
  const older = await hydrate('H')
  t.same(hydrations, ['snapshot'], 'a version 1 checkpoint bounds the hydration')
  t.same([older.version, valueOf(older)], [11, valueOf(cold)])
  store.db.prepare("DELETE FROM snapshots WHERE stream_id = 'H'").run()

  // With none of this machine version at all: a replay from the first event.
  store.db.prepare("DELETE FROM snapshots WHERE stream_id = 'H' AND schema = ?").run(schema)
  hydrations.length = 0
  const replayed = await hydrate('H')
  t.same(hydrations, ['replay'])
  t.equal(replayed.version, 11)
  t.same(valueOf(replayed), valueOf(cold))
})

t.test('a new owner fences the old one out and voids its cache', async (t) => {
  const a = await setup(t)
  a.worker.grant(0, await a.claim('a', 1))
  await a.submit('F', { type: 'REGISTER' })
  await a.worker.kick()
  t.equal(a.actors.size, 1, 'A caches the shipment it decided')

  // B takes the partition over (same file) and moves the shipment on.
  const b = await setup(t, { storage: a.storage })
  b.worker.grant(0, await a.claim('b', 2))
  await b.submit('F', { type: 'ASSIGN', truckId: 'T1' })
  await b.worker.kick()
  t.match(await a.storage.queries.get('F'), { state: 'assigned', version: 2 })

  // A, still believing it owns the partition, tries to write: fenced, nothing written.
  const stale = await a.submit('F', { type: 'CANCEL' })
  await a.worker.kick()
  t.same(a.fenced, [0])
  t.equal(a.worker.held().size, 0, 'A gave the partition up')
  t.match(await a.store.inbox.get(stale.commandId), { status: 'pending' })

  // A gets the partition back under a new epoch: its cached (epoch 1) actor must not be used.
  a.hydrations.length = 0
  a.worker.grant(0, await a.claim('a', 3))
  await a.worker.kick()
  t.notOk(a.hydrations.includes('cache'), 'the old epoch cache entry was not used')
  t.match(await a.store.inbox.get(stale.commandId), { status: 'accepted', streamVersion: 3 })
  t.same((await a.store.events.readStream('F')).map((e) => e.type), ['ShipmentRegistered', 'TruckAssigned', 'ShipmentCancelled'])
})

t.test('a failed batch leaves no trace and is retried in place', async (t) => {
  const { storage, store, worker, reports, errors, submit, claim } = await setup(t)
  worker.grant(0, await claim('me', 1))
  store.db.exec(`CREATE TEMP TRIGGER fail_once BEFORE INSERT ON main.events BEGIN SELECT RAISE(ABORT, 'injected failure'); END`)
  await submit('R', { type: 'REGISTER' })
  await submit('R', { type: 'ASSIGN', truckId: 'T1' })
  const drained = worker.kick()
  while (errors.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  t.equal(await store.inbox.countPending(), 2, 'both commands still pending after the failure')
  t.equal((await store.events.readStream('R')).length, 0)
  store.db.exec('DROP TRIGGER temp.fail_once')
  await drained
  t.same(reports.map((r) => r.outcome), ['accepted', 'accepted'])
  t.match(await storage.queries.get('R'), { state: 'assigned' })
})

t.test('a worker holding no partition decides nothing', async (t) => {
  const { store, worker, submit } = await setup(t)
  await submit('N', { type: 'REGISTER' })
  await worker.kick()
  t.equal(await store.inbox.countPending(), 1)
})

const newCommand = (streamId: string, payload: ShipmentCommand) => command(streamId, payload)

t.test('submitted commands are committed and decided in one cycle, in submission order', async (t) => {
  const { store, worker, intake, reports, claim } = await setup(t)
  worker.grant(0, await claim('me', 1))
  const results = await Promise.all([
    intake.submit(newCommand('I', { type: 'REGISTER' })),
    intake.submit(newCommand('I', { type: 'ASSIGN', truckId: 'T1' })),
    intake.submit(newCommand('I', { type: 'SHIP' })),
  ])
  t.same(results.map((r) => r.kind), ['new', 'new', 'new'])
  t.ok(results[0]!.command!.seq < results[1]!.command!.seq && results[1]!.command!.seq < results[2]!.command!.seq)
  t.same(reports.map((r) => `${r.type}:${r.outcome}`), ['REGISTER:accepted', 'ASSIGN:accepted', 'SHIP:accepted'])
  const decidedAt = new Set(await Promise.all(results.map(async (r) => (await store.inbox.get(r.command!.commandId))!.decidedAt)))
  t.equal(decidedAt.size, 1, 'one cycle (one transaction) decided all three')
})

t.test('a worker that holds no partition still commits what is submitted to it', async (t) => {
  const { store, intake } = await setup(t)
  const [result] = await Promise.all([intake.submit(newCommand('J', { type: 'REGISTER' }))])
  t.equal(result!.kind, 'new')
  t.match(await store.inbox.get(result!.command!.commandId), { status: 'pending' })
})

t.test('when a cycle fails, its submissions are still committed on their own', async (t) => {
  const { store, worker, intake, errors, claim } = await setup(t)
  worker.grant(0, await claim('me', 1))
  store.db.exec(`CREATE TEMP TRIGGER fail_events BEFORE INSERT ON main.events BEGIN SELECT RAISE(ABORT, 'injected failure'); END`)
  const result = await intake.submit(newCommand('K', { type: 'REGISTER' }))
  t.equal(result.kind, 'new')
  t.match(await store.inbox.get(result.command!.commandId), { status: 'pending' }, 'durable although its decision failed')
  t.ok(errors.length >= 1)
  store.db.exec('DROP TRIGGER temp.fail_events')
  await worker.kick()
  t.match(await store.inbox.get(result.command!.commandId), { status: 'accepted' })
})

t.test('a stopped worker refuses submissions', async (t) => {
  const { worker, intake } = await setup(t)
  await worker.stop()
  await t.rejects(intake.submit(newCommand('L', { type: 'REGISTER' })), { code: 'WORKER_STOPPED' })
})

t.test('a poison command is retried in place, then its shipment is parked while others flow', async (t) => {
  const { storage, store, worker, reports, submit, claim } = await setup(t, { faults: parseFaults('poison:P') })
  worker.grant(0, await claim('me', 1))
  await submit('Q', { type: 'REGISTER' })
  const poison = await submit('P', { type: 'REGISTER' })
  const behind = await submit('P', { type: 'ASSIGN', truckId: 'T1' })
  await submit('Q', { type: 'ASSIGN', truckId: 'T1' })
  for (let i = 0; i < 10 && !(await store.parking.get('P')); i++) await worker.kick()
  t.match(await store.parking.get('P'), { commandId: poison.commandId, attempts: 3, waiting: 2, error: /injected failure/ })
  t.match(await store.inbox.get(poison.commandId), { status: 'pending', attempts: 3 })
  t.match(await store.inbox.get(behind.commandId), { status: 'pending' }, 'the command behind it waits, in order')
  t.match(await storage.queries.get('Q'), { state: 'assigned' }, 'the other shipment flowed')
  t.notOk(reports.some((r) => r.subjectId === 'P'), 'nothing of P was decided')

  // An admin discards the poison command: it becomes a rejection and the rest of P flows again.
  const discarded = await store.parking.discard('P', 'admin-1', 99)
  t.equal(discarded?.commandId, poison.commandId)
  t.match(await store.inbox.get(poison.commandId), { status: 'rejected', reason: 'discarded', detail: /discarded by admin-1 after 3 failed attempts/ })
  await worker.kick()
  t.match(await store.inbox.get(behind.commandId), { status: 'pending' }, 'still poisoned: ASSIGN of P fails too')
})

t.test('an admin retry unparks and the command is tried again', async (t) => {
  const faults = { poisoned: true }
  const { store, worker, submit, claim } = await setup(t, {
    faults: { ...noFaults, poison: (id) => { if (faults.poisoned && id === 'R2') throw new Error('disk controller hiccup') } },
  })
  worker.grant(0, await claim('me', 1))
  const command = await submit('R2', { type: 'REGISTER' })
  for (let i = 0; i < 10 && !(await store.parking.get('R2')); i++) await worker.kick()
  t.ok(await store.parking.get('R2'), 'parked')
  faults.poisoned = false
  t.match(await store.parking.retry('R2'), { commandId: command.commandId })
  t.equal(await store.parking.count(), 0)
  await worker.kick()
  t.match(await store.inbox.get(command.commandId), { status: 'accepted', attempts: 0 })
})

t.test('a locked database delays decisions and submissions, and nothing is applied twice', async (t) => {
  const { store, worker, intake, reports, claim } = await setup(t)
  worker.grant(0, await claim('me', 1))
  // Another process takes the write lock (a second connection to the same file).
  const { default: Database } = await import('better-sqlite3')
  const other = new Database(store.db.name)
  t.teardown(() => other.close())
  other.exec('BEGIN IMMEDIATE')
  const submitted = intake.submit(newCommand('LOCK', { type: 'REGISTER' }))
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(reports.length, 0, 'nothing decided while the lock is held')
  other.exec('COMMIT')
  const result = await submitted
  await worker.kick()
  t.equal(result.kind, 'new')
  t.match(await store.inbox.get(result.command!.commandId), { status: 'accepted' })
  t.equal((await store.events.readStream('LOCK')).length, 1, 'one event')
  t.equal(reports.filter((r) => r.subjectId === 'LOCK').length, 1, 'one report')
})

t.test('a full disk refuses submissions and resumes when space is back', async (t) => {
  const { store, worker, intake, claim } = await setup(t)
  worker.grant(0, await claim('me', 1))
  await intake.submit(newCommand('FULL-0', { type: 'REGISTER' }))
  const pages = store.db.pragma('page_count', { simple: true }) as number
  store.db.pragma(`max_page_count = ${pages}`)
  const refused: unknown[] = []
  for (let i = 1; i <= 60; i++) await intake.submit(newCommand(`FULL-${i}`, { type: 'REGISTER', origin: 'x'.repeat(150) })).catch((e) => refused.push(e))
  t.ok(refused.length > 0, `${refused.length} submissions refused`)
  t.match(refused[0], { code: 'SQLITE_FULL' })
  store.db.pragma('max_page_count = 1073741823')
  const after = await intake.submit(newCommand('FULL-after', { type: 'REGISTER' }))
  await worker.kick()
  t.match(await store.inbox.get(after.command!.commandId), { status: 'accepted' })
  t.equal(store.db.pragma('integrity_check', { simple: true }), 'ok')
})

t.test('replaying a history with a hole fails loudly instead of skipping', async (t) => {
  const { replayActor, emptyActor, HistoryGapError } = await import('../../src/projections/actors.js')
  const event = (version: number, type: string, data: unknown = {}) => ({ position: version, streamId: 'GAP', version, type, data, metadata: {}, recordedAt: version })
  t.equal(replayActor([event(1, 'ShipmentRegistered'), event(2, 'TruckAssigned', { truckId: 'T1' })], emptyActor(shipmentKind)).version, 2)
  t.throws(() => replayActor([event(1, 'ShipmentRegistered'), event(3, 'TruckAssigned', { truckId: 'T1' })], emptyActor(shipmentKind)), HistoryGapError)
})

t.test('under saturation a kick is released by its watermark, and submissions add no waiters', async (t) => {
  const { store, worker, intake, claim } = await setup(t, { batchMax: 8 })
  worker.grant(0, await claim('me', 1))
  // 16 submissions per event-loop turn against 8 per cycle: the intake never drains below a batch.
  const limit = 3000
  let submitted = 0
  let mostWaiting = 0
  const results: Array<Promise<unknown>> = []
  const pump = (async () => {
    while (submitted < limit) {
      for (let i = 0; i < 16; i++) results.push(intake.submit(newCommand(`SAT-${submitted++ % 40}`, { type: 'REGISTER' })))
      mostWaiting = Math.max(mostWaiting, worker.waiting())
      await new Promise((resolve) => setImmediate(resolve))
    }
    return 'starved' as const
  })()
  while (submitted < 200) await new Promise((resolve) => setImmediate(resolve))
  const kicked = worker.kick().then(() => submitted)
  const first = await Promise.race([kicked, pump])
  t.not(first, 'starved', 'the kick resolved while the intake was still saturated')
  t.ok(typeof first === 'number' && first < limit, `released after ${String(first)} of ${limit} submissions`)
  await pump
  t.ok(mostWaiting <= 1, `at most one kick waiting at any time (saw ${mostWaiting}), not one per submission`)
  await Promise.all(results)
  await worker.kick()
  t.equal(await store.inbox.countPending(), 0, 'everything submitted was decided')
  t.equal(worker.waiting(), 0)
})

t.test('a kick with nothing pending resolves at the next cycle, full intake or not', async (t) => {
  const { worker, intake, claim } = await setup(t, { batchMax: 2 })
  worker.grant(0, await claim('me', 1))
  const results = Array.from({ length: 9 }, (_, i) => intake.submit(newCommand(`NP-${i}`, { type: 'REGISTER' })))
  let resolved = false
  const kicked = worker.kick().then(() => void (resolved = true))
  // The kick's watermark is what was in the inbox when it was made (nothing): the first cycle covers it.
  for (let i = 0; i < 20 && !resolved; i++) await new Promise((resolve) => setImmediate(resolve))
  t.ok(resolved, 'released by the first committed cycle, while submissions still wait')
  t.ok(intake.backlog() > 0, `${intake.backlog()} submissions still waiting for their commit`)
  await Promise.all([kicked, ...results])
})

t.test('the intake is bounded: beyond maxIntake a submission is refused at once (INTAKE_FULL)', async (t) => {
  const { store, worker, intake, claim } = await setup(t, { maxIntake: 10 })
  worker.grant(0, await claim('me', 1))
  const outcomes = await Promise.allSettled(Array.from({ length: 15 }, (_, i) => intake.submit(newCommand(`BI-${i}`, { type: 'REGISTER' }))))
  t.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 10, 'the first 10 are taken')
  t.same(outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason.code), Array(5).fill('INTAKE_FULL'))
  t.equal(store.db.prepare('SELECT count(*) FROM commands').pluck().get(), 10, 'the refused ones were not recorded')
  t.match(await intake.submit(newCommand('BI-after', { type: 'REGISTER' })), { kind: 'new' }, 'room again once committed')
})

t.test('revoking a partition lets the queue job waiting on it go, however long the drain takes', async (t) => {
  const { store, worker, submit, claim } = await setup(t)
  worker.grant(0, await claim('me', 1))
  await submit('RV', { type: 'REGISTER' })
  const { default: Database } = await import('better-sqlite3')
  const other = new Database(store.db.name)
  t.teardown(() => other.close())
  other.exec('BEGIN IMMEDIATE') // another process holds the write lock: no cycle can commit
  let released = false
  const job = worker.kick(0).then(() => void (released = true))
  await new Promise((resolve) => setTimeout(resolve, 250))
  t.notOk(released, 'the job waits while its command cannot be decided')
  worker.revoke(0)
  for (let i = 0; i < 100 && !released; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.ok(released, 'released when the partition was revoked')
  other.exec('ROLLBACK')
  await job
  await worker.stop() // not left retrying against a database the teardown closes
  t.equal(await store.inbox.countPending(), 1, 'the command stays pending for the next owner')
})

t.test('a poison shipment invalidates only the actors of the failed batch, not the whole cache', async (t) => {
  const { store, worker, actors, submit, claim } = await setup(t, { faults: parseFaults('poison:P') })
  worker.grant(0, await claim('me', 1))
  for (let i = 0; i < 30; i++) await submit(`HOT-${i}`, { type: 'REGISTER' })
  await worker.kick()
  t.equal(actors.size, 30, 'thirty hot shipments cached')
  await submit('P', { type: 'REGISTER' })
  for (let i = 0; i < 10 && !(await store.parking.get('P')); i++) await worker.kick()
  t.ok(await store.parking.get('P'), 'the poison shipment was parked')
  t.ok(actors.size >= 30, `the hot shipments stayed cached (${actors.size} actors)`)
})

t.test('the loop lingers for commands other processes take in, never after a batch of its own submissions', async (t) => {
  const lingerMs = 1000
  const { worker, intake, reports, submit, claim } = await setup(t, { lingerMs })
  worker.grant(0, await claim('me', 1))
  const decided = (id: string) => reports.some((r) => r.subjectId === id)
  // Another process's intake (a row in the inbox, then its wake-up job): within the linger after that
  // cycle, the next such command is found without a wake-up.
  await submit('A', { type: 'REGISTER' })
  await worker.kick()
  await submit('B', { type: 'REGISTER' })
  await eventually(() => decided('B') || undefined, lingerMs * 5, 'B decided by the lingering loop')
  await sleep(lingerMs * 1.5) // the linger after B's cycle ends; the loop stops at its idle look
  // This process's own submission: decided in its cycle, after which the loop stops at once. A row
  // that lands in the inbox right after waits for its wake-up (the old loop lingered and took it).
  t.match(await intake.submit(command('C', { type: 'REGISTER' })), { kind: 'new' })
  t.ok(decided('C'), 'decided in the cycle that took it in')
  await submit('D', { type: 'REGISTER' })
  await sleep(lingerMs * 1.5)
  t.notOk(decided('D'), 'no look for other commands after a batch of its own submissions')
  await worker.kick()
  t.ok(decided('D'), 'its wake-up decides it')
  await worker.stop() // before the database closes: the loop lingers after D's cycle
})
