import t from 'tap'
import { projections } from '../../src/storage.js'
import { FencedError, OutcomeConflictError, ask } from '../../src/store/cycle.js'
import { migrate } from '../../src/store/migrate.js'
import { allMigrations } from '../../src/store/schema.js'
import { isDatabaseUnavailable } from '../../src/store/sql.js'
import type { Store } from '../../src/store/store.js'
import type { NewCommand } from '../../src/store/types.js'
import { eachAdapter } from '../helpers/adapters.js'
import { command, localLoop } from '../helpers/decider.js'
import { tempDir } from '../helpers/service.js'
import { sqliteDb } from '../helpers/db.js'

// The storage port's contract, run against both adapters from one definition: whatever the database,
// the invariants of the log hold at the database itself, not only in our code.

/** Appends one event to `streamId` after `expected`, in a cycle of its own. */
function append(store: Store, streamId: string, expected: number, type = 'ShipmentRegistered', data: unknown = {}) {
  return store.cycle(function* () {
    return yield* ask({ op: 'write', plan: { appends: [{ streamId, expectedVersion: expected, events: [{ type, data, metadata: { commandId: 'c', machineVersion: '1' } }], recordedAt: 1 }], outcomes: [], snapshots: [], waits: [] } })
  })
}

eachAdapter(t, 'a shipment moves through its life; the log, the read model and the reports agree', async (t, adapter) => {
  const storage = await adapter.storage()
  const loop = localLoop(storage.store)
  await loop.claim()
  for (const payload of [{ type: 'REGISTER', origin: 'Depot A' }, { type: 'ASSIGN', truckId: 'T1' }, { type: 'SHIP' }, { type: 'DELIVER' }, { type: 'DELIVER' }]) {
    await loop.submit('PKG-1', payload)
  }
  await loop.worker.kick()
  t.same(loop.reports.map((r) => `${r.type}:${r.outcome}:${r.reason ?? ''}`), ['REGISTER:accepted:', 'ASSIGN:accepted:', 'SHIP:accepted:', 'DELIVER:accepted:', 'DELIVER:rejected:invalid_transition'])
  t.same((await storage.store.events.readStream('PKG-1')).map((e) => [e.version, e.type]), [[1, 'ShipmentRegistered'], [2, 'TruckAssigned'], [3, 'ShipmentShipped'], [4, 'ShipmentDelivered']])
  t.match(await storage.queries.get('PKG-1'), { state: 'delivered', version: 4, truckId: 'T1', origin: 'Depot A' })
  const positions = (await storage.store.events.readAll(0, 10)).map((e) => e.position)
  t.same(positions, [...positions].sort((a, b) => a - b), 'the feed is in position order')
  t.same(await storage.store.inbox.countPending(), 0)
  const rejected = await storage.store.inbox.get(loop.reports.at(-1)!.commandId)
  t.match(await storage.queries.report(rejected!), loop.reports.at(-1), 'a report rebuilt from the log is the one first sent')
  t.same((await (await import('../../src/operations/verify.js')).verify(storage.store)).problems, [])
})

eachAdapter(t, 'events are append-only and every stream is 1..n without a gap, enforced by the database', async (t, adapter) => {
  const { store } = await adapter.storage()
  await append(store, 'S', 0)
  await t.rejects(append(store, 'S', 0), 'a second version 1 is refused (expected-version append)')
  await t.rejects(append(store, 'S', 2), 'version 3 after 1 is refused (no gaps)')
  t.equal(await store.events.streamVersion('S'), 1)
  await t.rejects(store.sql.write((tx) => tx.run(`UPDATE events SET type = 'X'`)), /append-only/)
  await t.rejects(store.sql.write((tx) => tx.run('DELETE FROM events')), /append-only/)
  t.equal((await store.events.readStream('S')).length, 1)
})

eachAdapter(t, 'an outcome is recorded once, in the transaction of its events', async (t, adapter) => {
  const { store } = await adapter.storage()
  const [submitted] = await store.submit([command('O', { type: 'REGISTER' })])
  const seq = submitted!.command!.seq
  const decide = (streamId: string) =>
    store.cycle(function* () {
      return yield* ask({
        op: 'write',
        plan: {
          appends: [{ streamId, expectedVersion: 0, events: [{ type: 'ShipmentRegistered', data: {}, metadata: { commandId: submitted!.command!.commandId, machineVersion: '1' } }], recordedAt: 1 }],
          outcomes: [{ seq, commandId: submitted!.command!.commandId, outcome: { status: 'accepted', decidedState: 'unregistered', reason: null, detail: null, streamVersion: 1, decidedAt: 1 }, event: { streamId, version: 1 } }],
          snapshots: [],
          waits: [],
        },
      })
    })
  await decide('O')
  await t.rejects(decide('O2'), OutcomeConflictError, 'a second outcome for the command is refused…')
  t.equal(await store.events.streamVersion('O2'), 0, '…and the events written with it are rolled back')
  t.match(await store.inbox.get(submitted!.command!.commandId), { status: 'accepted', streamVersion: 1 })
})

eachAdapter(t, 'a superseded epoch is fenced out inside the write transaction; nothing it decided is written', async (t, adapter) => {
  const storage = await adapter.storage()
  const old = localLoop(storage.store)
  await old.claim('old')
  await old.submit('F', { type: 'REGISTER' })
  await old.worker.kick()
  const current = localLoop(storage.store)
  await current.claim('new')
  const stale = await old.submit('F', { type: 'CANCEL' })
  await old.worker.kick()
  t.same(old.fenced, [0], 'the old owner was fenced')
  t.match(await storage.store.inbox.get(stale.commandId), { status: 'pending' })
  t.equal(await storage.store.events.streamVersion('F'), 1)
  await current.worker.kick()
  t.match(await storage.store.inbox.get(stale.commandId), { status: 'accepted', streamVersion: 2 })
  await t.rejects(
    storage.store.cycle(function* () {
      yield* ask({ op: 'fence', held: new Map([[0, 1]]) })
    }),
    FencedError,
  )
})

eachAdapter(t, 'the feed never passes a position whose transaction has not committed (a writer held open)', async (t, adapter) => {
  // Two processes' connections: one writes (two writers), the other reads the feed.
  const dir = tempDir(t)
  const { store } = await adapter.storage({ dataDir: dir })
  const reader = (await adapter.storage({ dataDir: dir })).store
  await append(store, 'A', 0)
  // Writer 1 takes its position and stays open (a slow transaction: a long fsync, a paused process).
  let release!: () => void
  const held = new Promise<void>((resolve) => (release = resolve))
  let slowWrote!: () => void
  const wrote = new Promise<void>((resolve) => (slowWrote = resolve))
  const slow = store.sql.write(async (tx) => {
    await tx.run(
      `INSERT INTO events (stream_id, version, type, data, metadata, recorded_at) VALUES ('SLOW', 1, 'ShipmentRegistered', '{}', '{"commandId":"s","machineVersion":"1"}', 1)`,
    )
    slowWrote()
    await held
  })
  await wrote
  // Writer 2 starts while writer 1 is open; a reader follows the feed meanwhile.
  let fastDone = false
  const fast = append(store, 'FAST', 0).then(() => void (fastDone = true))
  const seen: number[] = []
  const read = async () => {
    const after = seen.at(-1) ?? 0
    for (const e of await reader.events.readAll(after, 100)) seen.push(e.position)
  }
  for (let i = 0; i < 10; i++) {
    await read()
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.same(seen, [1], 'while writer 1 is open the reader sees only what committed before it')
  t.notOk(fastDone, 'writer 2 waits for writer 1 (positions are handed out in commit order)')
  release()
  await Promise.all([slow, fast])
  await read()
  const all = (await store.events.readAll(0, 100)).map((e) => [e.position, e.streamId])
  t.same(seen, all.map(([p]) => p), 'the reader missed nothing')
  t.same(all.map(([, id]) => id), ['A', 'SLOW', 'FAST'], 'positions follow commit order')
})

eachAdapter(t, 'commands are numbered in commit order; an idempotency key is scoped to its device and bound to its request', async (t, adapter) => {
  const { store } = await adapter.storage()
  const key = (device: string, hash: string): NewCommand => command('K', { type: 'SHIP' }, { idempotencyKey: 'k', requestHash: hash, metadata: { deviceId: device } })
  const [first, again, other, elsewhere] = await store.submit([key('d1', 'h1'), key('d1', 'h1'), key('d1', 'h2'), key('d2', 'h1')])
  t.same([first!.kind, again!.kind, other!.kind, elsewhere!.kind], ['new', 'replay', 'conflict', 'new'])
  t.equal(again!.command!.commandId, first!.command!.commandId)
  t.ok(elsewhere!.command!.seq > first!.command!.seq)
  t.match(await store.inbox.byIdempotencyKey('d1', 'k'), { commandId: first!.command!.commandId })
  const twice = command('T', { type: 'REGISTER' })
  const [once, replayed] = await store.submit([twice, twice])
  t.same([once!.kind, replayed!.kind], ['new', 'replay'], 'a command id twice in one intake: the second is a replay of the first')
  t.equal(replayed!.command!.seq, once!.command!.seq)
  // One id, other keys: the first conflicts with a stored command (a replay of it), the second is new.
  const stored = key('d3', 'h1')
  await store.submit([stored])
  const [clash, fresh] = await store.submit([{ ...key('d3', 'h1'), commandId: 'same-id' }, { ...key('d3', 'h2'), commandId: 'same-id', idempotencyKey: 'k2' }])
  t.same([clash!.kind, fresh!.kind], ['replay', 'new'], 'one command id, other keys, in one intake')
  t.equal(clash!.command!.commandId, stored.commandId)
  t.match(await store.inbox.get('same-id'), { idempotencyKey: 'k2', requestHash: 'h2', seq: fresh!.command!.seq })
})

eachAdapter(t, 'a database that is away is "unavailable" (retried, 503), never a decision', async (t, adapter) => {
  const { store } = await adapter.storage()
  await store.close()
  const error = await store.submit([command('X', { type: 'REGISTER' })]).catch((e: unknown) => e)
  t.ok(error instanceof Error, 'the write fails')
  if (adapter.name === 'postgres') t.ok(isDatabaseUnavailable(error) || /pool/i.test(String((error as Error).message)), String((error as Error).message))
})

// Negative control for the test above: a writer that takes a position WITHOUT the installation's write
// lock (as a sequence alone would have it) commits out of order, and the same reader skips its event.
eachAdapter(
  t,
  'negative control: without the write lock a slow transaction\'s position is passed and its event skipped',
  async (t, adapter) => {
    const { store } = await adapter.storage()
    const { default: pg } = await import('pg')
    const rogue = new pg.Client({ connectionString: adapter.env.WAYBILL_DATABASE_URL })
    await rogue.connect()
    t.teardown(() => rogue.end())
    await append(store, 'A', 0)
    await rogue.query('BEGIN')
    await rogue.query(`INSERT INTO events (stream_id, version, type, data, metadata, recorded_at) VALUES ('ROGUE', 1, 'ShipmentRegistered', '{}', '{"commandId":"r","machineVersion":"1"}', 1)`)
    await append(store, 'FAST', 0)
    const seen = (await store.events.readAll(0, 100)).map((e) => e.position)
    await rogue.query('COMMIT')
    const missed = (await store.events.readAll(0, 100)).filter((e) => e.position < seen.at(-1)! && !seen.includes(e.position))
    t.same(missed.map((e) => e.streamId), ['ROGUE'], 'a reader resuming after the last position it saw never gets ROGUE')
  },
  ['postgres'],
)

eachAdapter(t, 'write transactions started at the same moment run one after the other, decision cycles among them', async (t, adapter) => {
  const { store } = await adapter.storage()
  // Many writers waiting at once for one open transaction: when it ends, each gets its own turn (on
  // SQLite one connection: a second BEGIN inside the first would fail).
  const writes = Array.from({ length: 8 }, (_, i) =>
    store.sql.write(async (tx) => {
      await tx.run('INSERT INTO device_sync (device_id, contiguous) VALUES (@id, 0)', { id: `w${i}` })
      await new Promise((resolve) => setImmediate(resolve))
      return i
    }),
  )
  const cycles = Array.from({ length: 4 }, (_, i) => append(store, `C${i}`, 0))
  t.same(await Promise.all(writes), [0, 1, 2, 3, 4, 5, 6, 7])
  await Promise.all(cycles)
  t.equal((await store.sql.get<{ n: number }>('SELECT count(*) AS n FROM device_sync'))!.n, 8)
})

eachAdapter(t, "a device's numbering: items by seq, refusals that keep a seq, the watermark and the gaps", async (t, adapter) => {
  const { store } = await adapter.storage()
  const item = (seq: number, deviceSeq = seq): NewCommand => ({ ...command(`D${seq}`, { type: 'REGISTER' }), requestHash: `h${seq}`, deviceSeq, metadata: { deviceId: 'dev' } })
  const results = await store.submit([item(1), item(2), item(5)])
  t.same(results.map((r) => r.kind), ['new', 'new', 'new'])
  const again = await store.submit([{ ...item(2), commandId: 'other-id' }, { ...item(5), commandId: 'x', requestHash: 'changed' }])
  t.same(again.map((r) => [r.kind, r.command?.deviceSeq]), [['replay', 2], ['conflict', 5]], 'a seq is taken once: same hash replays, another conflicts')
  const refused = await store.devices.refuse('dev', [{ seq: 3, requestHash: 'bad', detail: 'malformed' }, { seq: 5, requestHash: 'bad5', detail: 'malformed' }], 10)
  t.match(refused.get(3), { seq: 3, commandId: null, refusal: 'malformed', requestHash: 'bad' })
  t.match(refused.get(5), { seq: 5, commandId: results[2]!.command!.commandId }, 'a seq a command holds is not refused over it')
  t.same(await store.submit([{ ...item(3), commandId: 'y' }]).then((r) => r.map((x) => x.kind)), ['seq-taken'], 'nor is a refused seq taken by a command')
  t.match(await store.devices.sync('dev'), { deviceId: 'dev', lastContiguousSeq: 3, highestSeq: 5, gaps: [[4, 4]] })
  t.same([...(await store.devices.items('dev', [1, 3, 4])).keys()].sort(), [1, 3])
  await store.submit([item(4)])
  t.match(await store.devices.sync('dev'), { lastContiguousSeq: 5, highestSeq: 5, gaps: [] }, 'read past a watermark that lags')
  await store.devices.refuse('dev', [], 11)
  t.equal((await store.sql.get<{ contiguous: number }>("SELECT contiguous FROM device_sync WHERE device_id = 'dev'"))!.contiguous, 5, 'the watermark moved')
  // A device that lost part of its buffer: its gaps stay, summarised, and a late resend still fills one.
  await store.submit([item(7), item(9)])
  await store.devices.refuse('dev', [], 12)
  const summary = () => store.sql.get<{ contiguous: number; checked: number; gaps: string }>("SELECT contiguous, checked, gaps FROM device_sync WHERE device_id = 'dev'")
  t.match(await summary(), { contiguous: 5, checked: 9, gaps: '[[6,6],[8,8]]' }, 'the summary: known up to 9 but for its gaps')
  await store.submit([item(8), item(11)])
  t.match(await store.devices.sync('dev'), { lastContiguousSeq: 5, highestSeq: 11, gaps: [[6, 6], [10, 10]] }, 'a gap below the summary filled late, and new ones above it')
  await store.devices.refuse('dev', [{ seq: 6, requestHash: 'bad6', detail: 'malformed' }], 13)
  t.match(await summary(), { contiguous: 9, checked: 11, gaps: '[[10,10]]' })
  // The read looks only above the summary and inside its gaps: a summary that claimed seq 10 would be believed.
  await store.sql.write((tx) => tx.run("UPDATE device_sync SET gaps = '[]', contiguous = 11 WHERE device_id = 'dev'"))
  t.match(await store.devices.sync('dev'), { lastContiguousSeq: 11, gaps: [] }, 'negative control: the rows below the summary are not read again')
  t.match(await store.devices.sync('nobody'), { lastContiguousSeq: 0, highestSeq: 0, gaps: [], lastSeenAt: null })
})

eachAdapter(t, 'the contract’s largest numbers (2^53 − 1 as a version or a page bound) are reads on both adapters, not errors', async (t, adapter) => {
  const { store } = await adapter.storage()
  await append(store, 'BIG', 0)
  const max = Number.MAX_SAFE_INTEGER
  t.same(await store.events.readStreamPage('BIG', max, 10), [], 'a page after the last possible version')
  t.equal(await store.events.loadSnapshot('BIG', ['shipment@2'], max), undefined, 'a checkpoint at or before it')
  t.same(await store.events.readAll(max, 10), [], 'the feed after the last possible position')
})

eachAdapter(t, "the inbox keeps no index of every decided command; a window of rejections reads the rejections' own index", async (t, adapter) => {
  const { store } = await adapter.storage()
  const indexes = async () =>
    (store.sql.dialect === 'sqlite'
      ? await store.sql.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'commands'")
      : await store.sql.all<{ name: string }>("SELECT indexname AS name FROM pg_indexes WHERE tablename = 'commands'")
    ).map((row) => row.name)
  t.notOk((await indexes()).includes('commands_decided'), 'a new database has none')
  t.ok((await indexes()).includes('commands_rejected'))
  // An installation from before the change: the index is there, its migration not yet applied.
  const id = store.sql.dialect === 'sqlite' ? 'inbox/8-no-decided-index' : 'pg/4-no-decided-index'
  await store.sql.write(async (tx) => {
    await tx.exec('CREATE INDEX commands_decided ON commands (decided_at) WHERE decided_at IS NOT NULL')
    await tx.run('DELETE FROM migrations WHERE id = @id', { id })
  })
  t.ok((await indexes()).includes('commands_decided'), 'the old index (negative control of the check above)')
  t.same(await migrate(store.sql, allMigrations(projections)), [id], 'the upgrade applies the one migration')
  t.notOk((await indexes()).includes('commands_decided'), 'and drops it')
  if (store.sql.dialect === 'sqlite') {
    // The shape of the review and /stats reads of rejections (review-queries.ts #refused, process-stats.ts).
    const plan = sqliteDb({ store }).prepare("EXPLAIN QUERY PLAN SELECT stream_id, count(*) FROM commands WHERE status = 'rejected' AND decided_at BETWEEN 1 AND 2 GROUP BY stream_id").all() as Array<{ detail: string }>
    t.match(plan.map((p) => p.detail).join(' | '), /SEARCH commands USING INDEX commands_rejected \(decided_at>\? AND decided_at<\?\)/)
  }
})
