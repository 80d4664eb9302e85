import { join } from 'node:path'
import t from 'tap'
import { migrate, openDatabase } from '../../src/store/database.js'
import { EventStore } from '../../src/store/event-store.js'
import { FencedError, PartitionEpochs } from '../../src/store/fencing.js'
import { storeMigrations } from '../../src/store/migrations.js'
import { tempDir } from '../helpers/service.js'

function open(t: { teardown(fn: () => unknown): void }) {
  const db = openDatabase(join(tempDir(t), 'store.db'), { busyTimeoutMs: 100 })
  t.teardown(() => db.close())
  migrate(db, storeMigrations)
  return { db, store: new EventStore(db), epochs: new PartitionEpochs(db) }
}

const meta = { commandId: 'c1' }

t.test('a connection is WAL, synchronous=FULL, foreign keys on', async (t) => {
  const { db } = open(t)
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal')
  t.equal(db.pragma('synchronous', { simple: true }), 2, 'FULL')
  t.equal(db.pragma('foreign_keys', { simple: true }), 1)
  t.same(migrate(db, storeMigrations), [], 'migrations apply once')
})

t.test('append with expected version: positions grow, versions are 1..n', async (t) => {
  const { db, store } = open(t)
  const write = db.transaction(() => [
    ...store.append('s1', 0, [{ type: 'A', data: { x: 1 }, metadata: meta }], 1000),
    ...store.append('s2', 0, [{ type: 'A', data: {}, metadata: meta }], 1001),
    ...store.append('s1', 1, [{ type: 'B', data: {}, metadata: meta }, { type: 'C', data: {}, metadata: meta }], 1002),
  ])
  const appended = write.immediate()
  t.same(appended.map((e) => [e.streamId, e.version, e.position]), [['s1', 1, 1], ['s2', 1, 2], ['s1', 2, 3], ['s1', 3, 4]])
  t.same(store.readStream('s1').map((e) => e.type), ['A', 'B', 'C'])
  t.same(store.readStream('s1', 2).map((e) => e.version), [3])
  t.same(store.readStream('s1')[0]!.data, { x: 1 })
  t.equal(store.streamVersion('s1'), 3)
  t.equal(store.lastPosition(), 4)
  t.same(store.readAll(1, 2).map((e) => e.position), [2, 3])
  t.same([...store.iterate(0, 3)].map((e) => e.position), [1, 2, 3, 4])
  t.same(store.readStreamUntil('s1', { version: 2 }).map((e) => e.version), [1, 2])
  t.same(store.readStreamUntil('s1', { at: 1001 }).map((e) => e.version), [1])
})

t.test('a stale writer cannot fork or gap a stream', async (t) => {
  const { store } = open(t)
  store.append('s1', 0, [{ type: 'A', data: {}, metadata: meta }], 1)
  t.throws(() => store.append('s1', 0, [{ type: 'A', data: {}, metadata: meta }], 2), /version must follow|UNIQUE/, 'same expected version twice')
  t.throws(() => store.append('s1', 5, [{ type: 'A', data: {}, metadata: meta }], 2), /version must follow/, 'a gap')
  t.equal(store.streamVersion('s1'), 1)
})

t.test('events are append-only', async (t) => {
  const { db, store } = open(t)
  store.append('s1', 0, [{ type: 'A', data: {}, metadata: meta }], 1)
  t.throws(() => db.prepare("UPDATE events SET type = 'X'").run(), /append-only/)
  t.throws(() => db.prepare('DELETE FROM events').run(), /append-only/)
  t.equal(store.readStream('s1')[0]!.type, 'A')
})

t.test('snapshots keep the newest version per stream', async (t) => {
  const { store } = open(t)
  store.saveSnapshot('s1', { version: 5, schema: 'v1', state: { a: 5 } })
  store.saveSnapshot('s1', { version: 3, schema: 'v1', state: { a: 3 } })
  t.same(store.loadSnapshot('s1'), { version: 5, schema: 'v1', state: { a: 5 } })
  store.saveSnapshot('s1', { version: 8, schema: 'v2', state: { a: 8 } })
  t.same(store.loadSnapshot('s1'), { version: 8, schema: 'v2', state: { a: 8 } })
  t.equal(store.loadSnapshot('none'), undefined)
})

t.test('a new owner fences the previous one out', async (t) => {
  const { epochs } = open(t)
  const first = epochs.claim(3, 'worker-a', 1)
  t.doesNotThrow(() => epochs.assertHeld(3, first))
  const second = epochs.claim(3, 'worker-b', 2)
  t.ok(second > first)
  t.throws(() => epochs.assertHeld(3, first), FencedError)
  t.doesNotThrow(() => epochs.assertHeld(3, second))
  t.equal(epochs.current(7), 0, 'an unclaimed partition has epoch 0')
})
