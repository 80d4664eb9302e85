import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import t from 'tap'
import type { ShipmentCommand } from '../../machines/shipment/index.js'
import { ProcessStats } from '../../src/projections/process-stats.js'
import { shipmentsProjection } from '../../src/projections/shipments.js'
import { reviewProjection } from '../../src/projections/review.js'
import { missingReviewHistory, reviewHistoryAdvice } from '../../src/projections/review-queries.js'
import { doctor } from '../../src/operations/doctor.js'
import { startService } from '../../src/service.js'
import { openStorage } from '../../src/storage.js'
import { openSqliteStore } from '../../src/store/sqlite/store.js'
import type { StoredEvent } from '../../src/store/types.js'
import { sqliteDb } from '../helpers/db.js'
import { command, localLoop } from '../helpers/decider.js'
import { startRedis } from '../helpers/redis.js'
import { tempDir, testConfig } from '../helpers/service.js'

// Stats on a known history, with the clock under control: every number below is worked out by hand.
const minute = 60_000
const t0 = Date.parse('2026-11-27T08:00:00Z')

t.test('process stats from the read models, and a rebuild that yields the live read models', async (t) => {
  const storage = await openStorage({ databaseFile: join(tempDir(t), 's.db'), databaseUrl: undefined, busyTimeoutMs: 100, bootstrapToken: undefined })
  t.teardown(() => storage.close())
  // The decision core without Redis, on a clock that only moves when the history says so.
  const loop = localLoop(storage.store, { batchMax: 100, snapshotEvery: 16, clock: { now: t0, tick: false } })
  const { worker, intake } = loop
  await loop.claim('me', 0)
  const at = async (minutes: number, shipmentId: string, payload: ShipmentCommand) => {
    loop.clock.now = t0 + minutes * minute
    await intake.submit(command(shipmentId, payload, { metadata: { deviceId: 'd' }, receivedAt: loop.clock.now }))
    await worker.kick()
  }
  // A: registered 0–10, assigned 10–20, shipped 20–50, delivered 50.
  await at(0, 'A', { type: 'REGISTER' })
  await at(10, 'A', { type: 'ASSIGN', truckId: 'T1' })
  await at(20, 'A', { type: 'SHIP' })
  await at(50, 'A', { type: 'DELIVER' })
  // B: registered 0–30, assigned 30– (still), reassigned at 40; two rejected attempts.
  await at(0, 'B', { type: 'REGISTER' })
  await at(5, 'B', { type: 'SHIP' })
  await at(30, 'B', { type: 'ASSIGN', truckId: 'T1' })
  await at(35, 'B', { type: 'ASSIGN', truckId: 'T1' })
  await at(40, 'B', { type: 'ASSIGN', truckId: 'T2' })
  // C: registered 0–2, cancelled 2.  D: registered at 5, still.
  await at(0, 'C', { type: 'REGISTER' })
  await at(2, 'C', { type: 'CANCEL' })
  await at(5, 'D', { type: 'REGISTER' })

  const stats = new ProcessStats(storage.store.sql)
  const read = (window = {}) => stats.read(window, 45 * minute, t0 + 100 * minute)
  const all = await read()
  const state = (name: string) => all.states.find((s) => s.state === name)!
  t.same(all.states.map((s) => [s.state, s.count]), [['registered', 1], ['assigned', 1], ['shipped', 0], ['delivered', 1], ['cancelled', 1]])
  // Stays that ended in registered: A 10, B 30, C 2 → p50 10, p95 30.
  t.same(state('registered').dwell, { samples: 3, p50Ms: 10 * minute, p95Ms: 30 * minute })
  t.same(state('assigned').dwell, { samples: 1, p50Ms: 10 * minute, p95Ms: 10 * minute }, 'a reassignment is not a new stay')
  t.same(state('shipped').dwell, { samples: 1, p50Ms: 30 * minute, p95Ms: 30 * minute })
  t.equal(state('delivered').dwell, null, 'final states have no dwell time')
  const traffic = Object.fromEntries(all.transitions.map((tr) => [tr.id, tr.count]))
  t.same(traffic, {
    'unregistered:REGISTER': 4, 'atDepot:CANCEL': 1, 'registered:ASSIGN': 2, 'assigned:ASSIGN': 1,
    'assigned:UNASSIGN': 0, 'assigned:SHIP': 1, 'assigned:DEPART_SHIP': 0, 'shipped:DELIVER': 1,
  })
  t.same(all.rejections, [
    { state: 'assigned', command: 'ASSIGN', reason: 'same_truck', count: 1 },
    { state: 'registered', command: 'SHIP', reason: 'invalid_transition', count: 1 },
  ])
  // At minute 100 with a 45-minute threshold: D registered since 5 (95 min), B assigned since 30 (70 min).
  t.same(all.stuck.items.map((s) => [s.shipmentId, s.state, s.forMs / minute]), [['D', 'registered', 95], ['B', 'assigned', 70]])
  t.equal(state('registered').stuck, 1)

  // A window: only what happened between minute 15 and 45.
  const window = await read({ from: t0 + 15 * minute, to: t0 + 45 * minute })
  t.same(Object.fromEntries(window.transitions.filter((tr) => tr.count).map((tr) => [tr.id, tr.count])), { 'assigned:SHIP': 1, 'registered:ASSIGN': 1, 'assigned:ASSIGN': 1 })
  t.same(window.rejections.map((r) => r.reason), ['same_truck'])
  t.same(window.states.find((s) => s.state === 'registered')!.dwell, { samples: 1, p50Ms: 30 * minute, p95Ms: 30 * minute })

  // Rebuilt from the log: the live read models, row for row, and the same numbers.
  const tables = (table: string) => JSON.stringify(sqliteDb(storage).prepare(`SELECT * FROM ${table} ORDER BY 1, 2, 3`).all())
  const readModels = ['shipments', ...reviewProjection.tables]
  const live = readModels.map(tables)
  const before = JSON.stringify(await read())
  await storage.store.rebuildProjections()
  t.same(readModels.map(tables), live, 'the rebuilt read models are the live ones, byte for byte')
  t.equal(JSON.stringify(await read()), before, 'identical stats after a rebuild')
  const events: StoredEvent[] = []
  for await (const event of storage.store.events.iterate()) events.push(event)

  // Computed from the events (and its own tables) alone: applied before or after the shipments
  // projection, the review projection (the stats' steps) writes the same rows.
  // A store whose projections run in the other order: the log imported (applied live), then rebuilt.
  const reversed = await openSqliteStore({ file: join(tempDir(t), 'reversed.db'), busyTimeoutMs: 100, projections: [reviewProjection, shipmentsProjection] })
  t.teardown(() => reversed.close())
  const reversedTables = () => readModels.map((table) => JSON.stringify(reversed.db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2, 3`).all()))
  await reversed.importEvents(events, [])
  t.same(reversedTables(), live, 'in any order of projections')
  await reversed.rebuildProjections()
  t.same(reversedTables(), live, 'in any order of projections, rebuilt')

  // Events without `fromState` (imported from elsewhere) are placed by the open visit: same numbers.
  const bare = await openStorage({ databaseFile: join(tempDir(t), 'bare.db'), databaseUrl: undefined, busyTimeoutMs: 100, bootstrapToken: undefined })
  t.teardown(() => bare.close())
  await bare.store.importEvents(
    events.map((event) => {
      const { fromState: _dropped, ...metadata } = event.metadata
      return { streamId: event.streamId, version: event.version, type: event.type, data: event.data, metadata, recordedAt: event.recordedAt }
    }),
    [],
  )
  const bareStats = await new ProcessStats(bare.store.sql).read({}, 45 * minute, t0 + 100 * minute)
  const { rejections: _r, ...withoutRejections } = await read()
  const { rejections: _b, ...bareWithoutRejections } = bareStats
  t.same(bareWithoutRejections, withoutRejections, 'the read models agree (rejections live in the inbox, not in events)')
})

t.test('an installation upgraded from the stats projection: its copies of the steps are dropped', async (t) => {
  const file = join(tempDir(t), 'upgraded.db')
  const first = await openStorage({ databaseFile: file, databaseUrl: undefined, busyTimeoutMs: 100, bootstrapToken: undefined })
  const tablesOf = (db: ReturnType<typeof sqliteDb>) => (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]).sort()
  t.notOk(tablesOf(sqliteDb(first)).includes('transitions'), 'a new database never has them')
  // As the version before this one left it: its tables there, the dropping migration not applied.
  sqliteDb(first).exec(`
    CREATE TABLE transitions (position INTEGER PRIMARY KEY, stream_id TEXT NOT NULL, from_state TEXT NOT NULL, to_state TEXT NOT NULL, event TEXT NOT NULL, at INTEGER NOT NULL, from_since INTEGER, command TEXT);
    CREATE TABLE stats_stays (stream_id TEXT PRIMARY KEY, state TEXT NOT NULL, since INTEGER NOT NULL) WITHOUT ROWID;
    DELETE FROM migrations WHERE id = 'projections/8-stats-from-review';
  `)
  await first.close()
  const upgraded = await openStorage({ databaseFile: file, databaseUrl: undefined, busyTimeoutMs: 100, bootstrapToken: undefined })
  t.teardown(() => upgraded.close())
  const tables = tablesOf(sqliteDb(upgraded))
  t.notOk(tables.includes('transitions') || tables.includes('stats_stays'), 'dropped by the migration')
  t.ok(tables.includes('review_steps'))
})

t.test('a history older than the review tables is reported (start-up, doctor) until a rebuild fills them', async (t) => {
  const dataDir = tempDir(t)
  const storage = await openStorage({ databaseFile: join(dataDir, 'waybill.db'), databaseUrl: undefined, busyTimeoutMs: 100, bootstrapToken: undefined })
  t.teardown(() => storage.close())
  t.equal(await missingReviewHistory(storage.store.sql), null, 'an empty log misses nothing')
  const registered = (id: string, at: number) => ({ streamId: id, version: 1, type: 'ShipmentRegistered', data: {}, metadata: { commandId: `c-${id}`, deviceId: 'd' }, recordedAt: at })
  await storage.store.importEvents([registered('OLD-1', t0), registered('OLD-2', t0 + minute)], [])
  t.equal(await missingReviewHistory(storage.store.sql), null, 'every event has its step')
  // As an installation upgraded from before the review tables has them: empty beside its history.
  for (const table of reviewProjection.tables) sqliteDb(storage).exec(`DELETE FROM ${table}`)
  t.same(await missingReviewHistory(storage.store.sql), { firstEvent: 1, firstStep: null })
  const check = async () => (await doctor(testConfig({ WAYBILL_DATA_DIR: dataDir, REDIS_URL: 'redis://127.0.0.1:1' }))).find((c) => c.name === 'read models')
  t.match(await check(), { status: 'warn', detail: /from position 1 on: run `waybill projections rebuild`/ })
  // A `serve` on that database (real Redis, real SQLite) says so at start-up.
  const redis = await startRedis(t)
  const lines: string[] = []
  const sink = new Writable({ write: (chunk, _encoding, done) => void (lines.push(String(chunk)), done()) })
  const served = await startService(testConfig({ REDIS_URL: redis.url, WAYBILL_DATA_DIR: dataDir }), { api: true, listen: false, logger: pino({ level: 'info' }, sink) })
  await served.close()
  t.match(lines.map((l) => JSON.parse(l)).find((l) => /projections rebuild/.test(l.msg)), { level: 40, firstEvent: 1, firstStep: null }, 'logged at warn when serve starts')
  // Only the newest part of the history has steps (the review tables were created between the two).
  await storage.store.importEvents([registered('NEW-1', t0 + 2 * minute)], [])
  t.match(reviewHistoryAdvice((await missingReviewHistory(storage.store.sql))!), /at positions 1–2:/)
  await storage.store.rebuildProjections()
  t.equal(await missingReviewHistory(storage.store.sql), null, 'filled by the rebuild')
  t.match(await check(), { status: 'ok' })
})
