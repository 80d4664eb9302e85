import { join } from 'node:path'
import t from 'tap'
import { FencedError, type WritePlan } from '../../src/store/cycle.js'
import { migrate } from '../../src/store/migrate.js'
import { storeMigrations } from '../../src/store/schema.js'
import { NotInTransactionError } from '../../src/store/sql.js'
import { openSqliteStore } from '../../src/store/sqlite/store.js'
import type { NewEvent, StoredEvent, StoredSnapshot } from '../../src/store/types.js'
import { tempDir } from '../helpers/service.js'

// The event log on SQLite: appends happen only in a cycle's `write` (SqliteCycleOps), reads through
// EventLog, fencing epochs through PartitionEpochs. The store's own tables only (no read models).
async function open(t: { teardown(fn: () => unknown): void }) {
  const store = await openSqliteStore({ file: join(tempDir(t), 'store.db'), busyTimeoutMs: 100, projections: [] })
  t.teardown(() => store.close())
  const { db, ops, events, epochs } = store
  /** Runs `fn` in a write transaction of its own (the contract of the cycle's insert, fence and write). */
  const tx = <T>(fn: () => T): Promise<T> => store.sql.writeSync(fn)
  const plan = (parts: Partial<WritePlan>): WritePlan => ({ appends: [], outcomes: [], snapshots: [], waits: [], ...parts })
  /** Appends `list` after `expectedVersion` (the cycle's write with this one append). Call inside a transaction. */
  const append = (streamId: string, expectedVersion: number, list: readonly NewEvent[], recordedAt: number): StoredEvent[] =>
    ops.write(plan({ appends: [{ streamId, expectedVersion, events: list, recordedAt }] }))
  /** Saves a checkpoint (the cycle's write with this one snapshot). Call inside a transaction. */
  const saveSnapshot = (streamId: string, snapshot: StoredSnapshot): StoredEvent[] => ops.write(plan({ snapshots: [{ streamId, snapshot }] }))
  /** The stream up to `version` and up to `at` (epoch ms), the way `hydrateUntil` resolves it: a prefix. */
  const until = async (streamId: string, bound: { version?: number; at?: number }) => {
    const at = bound.at === undefined ? Number.MAX_SAFE_INTEGER : await events.versionAt(streamId, bound.at)
    return events.readStreamRange(streamId, 0, Math.min(bound.version ?? Number.MAX_SAFE_INTEGER, at))
  }
  return { store, db, ops, events, epochs, tx, plan, append, saveSnapshot, until }
}

const meta = { commandId: 'c1' }
const versions = (list: readonly StoredEvent[]) => list.map((e) => e.version)

t.test('a connection is WAL, synchronous=FULL, foreign keys on', async (t) => {
  const { store, db } = await open(t)
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal')
  t.equal(db.pragma('synchronous', { simple: true }), 2, 'FULL')
  t.equal(db.pragma('foreign_keys', { simple: true }), 1)
  t.same(await migrate(store.sql, storeMigrations), [], 'migrations apply once')
})

t.test('append with expected version: positions grow, versions are 1..n', async (t) => {
  const { events, tx, plan, ops } = await open(t)
  // One write, several appends in decision order; a stream may appear twice, each continuing the last.
  const appended = await tx(() =>
    ops.write(
      plan({
        appends: [
          { streamId: 's1', expectedVersion: 0, events: [{ type: 'A', data: { x: 1 }, metadata: meta }], recordedAt: 1000 },
          { streamId: 's2', expectedVersion: 0, events: [{ type: 'A', data: {}, metadata: meta }], recordedAt: 1001 },
          { streamId: 's1', expectedVersion: 1, events: [{ type: 'B', data: {}, metadata: meta }, { type: 'C', data: {}, metadata: meta }], recordedAt: 1002 },
        ],
      }),
    ),
  )
  t.same(appended.map((e) => [e.streamId, e.version, e.position]), [['s1', 1, 1], ['s2', 1, 2], ['s1', 2, 3], ['s1', 3, 4]])
  t.same((await events.readStream('s1')).map((e) => e.type), ['A', 'B', 'C'])
  t.same(versions(await events.readStream('s1', 2)), [3])
  t.same((await events.readStream('s1'))[0]!.data, { x: 1 })
  t.equal(await events.streamVersion('s1'), 3)
  t.equal(await events.lastPosition(), 4)
  t.same((await events.readAll(1, 2)).map((e) => e.position), [2, 3])
  const iterated: number[] = []
  for await (const e of events.iterate(0, 3)) iterated.push(e.position)
  t.same(iterated, [1, 2, 3, 4])
  t.same(versions(await events.readStreamRange('s1', 0, 2)), [1, 2])
  t.equal(await events.versionAt('s1', 1001), 1)
  t.same(versions(await events.readStreamRange('s1', 0, await events.versionAt('s1', 1001))), [1])
})

t.test('a stale writer cannot fork or gap a stream', async (t) => {
  const { events, tx, append } = await open(t)
  await tx(() => append('s1', 0, [{ type: 'A', data: {}, metadata: meta }], 1))
  await t.rejects(tx(() => append('s1', 0, [{ type: 'A', data: {}, metadata: meta }], 2)), /version must follow|UNIQUE/, 'same expected version twice')
  await t.rejects(tx(() => append('s1', 5, [{ type: 'A', data: {}, metadata: meta }], 2)), /version must follow/, 'a gap')
  t.equal(await events.streamVersion('s1'), 1)
})

t.test('events are append-only', async (t) => {
  const { db, events, tx, append } = await open(t)
  await tx(() => append('s1', 0, [{ type: 'A', data: {}, metadata: meta }], 1))
  t.throws(() => db.prepare("UPDATE events SET type = 'X'").run(), /append-only/)
  t.throws(() => db.prepare('DELETE FROM events').run(), /append-only/)
  t.equal((await events.readStream('s1'))[0]!.type, 'A')
})

t.test('snapshots: the newest version of a schema per stream is the one read, every checkpoint is kept', async (t) => {
  const { events, ops, tx, saveSnapshot } = await open(t)
  await tx(() => saveSnapshot('s1', { version: 5, schema: 'v1', state: { a: 5 } }))
  await tx(() => saveSnapshot('s1', { version: 3, schema: 'v1', state: { a: 3 } }))
  t.same(await events.loadSnapshot('s1', 'v1'), { version: 5, schema: 'v1', state: { a: 5 } }, 'the newest, not the last written')
  t.same((await tx(() => ops.load('s1', ['v1']))).snapshot, { version: 5, schema: 'v1', state: { a: 5 } }, 'and so is the one a cycle loads')
  t.same(await events.loadSnapshot('s1', 'v1', 4), { version: 3, schema: 'v1', state: { a: 3 } }, 'the older one is kept (a past version is a checkpoint plus a tail)')
  await tx(() => saveSnapshot('s1', { version: 8, schema: 'v2', state: { a: 8 } }))
  t.same(await events.loadSnapshot('s1', 'v2'), { version: 8, schema: 'v2', state: { a: 8 } })
  t.same(await events.loadSnapshot('s1', 'v1'), { version: 5, schema: 'v1', state: { a: 5 } }, "another schema's checkpoint is never read as this one's")
  t.equal(await events.loadSnapshot('none', 'v1'), undefined)
})

t.test('a new owner fences the previous one out', async (t) => {
  const { epochs, ops, tx } = await open(t)
  const first = await epochs.claim(3, 'worker-a', 1)
  await t.resolves(tx(() => ops.fence(new Map([[3, first]]))))
  const second = await epochs.claim(3, 'worker-b', 2)
  t.ok(second > first)
  await t.rejects(tx(() => ops.fence(new Map([[3, first]]))), FencedError)
  await t.resolves(tx(() => ops.fence(new Map([[3, second]]))))
  t.equal(await epochs.current(7), 0, 'an unclaimed partition has epoch 0')
})

t.test('"call inside the write transaction" is asserted, not only documented', async (t) => {
  const { db, events, epochs, ops, tx, append, saveSnapshot } = await open(t)
  const epoch = await epochs.claim(1, 'me', 1)
  t.throws(() => append('s1', 0, [{ type: 'A', data: {}, metadata: meta }], 1), NotInTransactionError, 'append alone')
  t.throws(() => saveSnapshot('s1', { version: 1, schema: 'v1', state: {} }), NotInTransactionError, 'saveSnapshot alone')
  t.throws(() => ops.fence(new Map([[1, epoch]])), NotInTransactionError, 'fence alone (even with the right epoch)')
  t.equal(await events.streamVersion('s1'), 0, 'nothing was written')
  t.equal(await events.loadSnapshot('s1', 'v1'), undefined)
  // A deferred transaction counts too (the caller chose it); the check is on the connection.
  db.transaction(() => append('s1', 0, [{ type: 'A', data: {}, metadata: meta }], 1))()
  await tx(() => ops.fence(new Map([[1, epoch]])))
  t.equal(await events.streamVersion('s1'), 1)
})

t.test('a time names a prefix of the stream, even in a log whose clock once stepped back', async (t) => {
  const { events, tx, append, until } = await open(t)
  // Written before recorded time was monotonic: version 3 carries an earlier time than version 2.
  await tx(() => {
    append('s1', 0, [{ type: 'A', data: {}, metadata: meta }], 1000)
    append('s1', 1, [{ type: 'B', data: {}, metadata: meta }], 2000)
    append('s1', 2, [{ type: 'C', data: {}, metadata: meta }], 1500)
    append('s1', 3, [{ type: 'D', data: {}, metadata: meta }], 3000)
  })
  t.equal(await events.versionAt('s1', 999), 0, 'before the first event')
  t.equal(await events.versionAt('s1', 1700), 1, 'the first event recorded after 1700 (version 2) ends the prefix')
  t.same(versions(await until('s1', { at: 1700 })), [1], 'no hole: version 3 is not taken without 2')
  t.same(versions(await until('s1', { at: 2000 })), [1, 2, 3])
  t.same(versions(await until('s1', { at: 2000, version: 2 })), [1, 2])
  t.equal(await events.versionAt('s1', 5000), 4, 'after the last event: the whole stream')
  t.equal(await events.versionAt('nothing', 5000), 0, 'an unknown stream')
})
