import { join } from 'node:path'
import t from 'tap'
import { canonicalJson, fingerprintHash } from '../../src/commands/intake.js'
import { OutcomeConflictError, type WritePlan } from '../../src/store/cycle.js'
import { assertInTransaction, NotInTransactionError } from '../../src/store/sql.js'
import { openSqliteStore } from '../../src/store/sqlite/store.js'
import type { InboxCommand, NewCommand, Outcome } from '../../src/store/types.js'
import { tempDir } from '../helpers/service.js'

// The durable inbox on SQLite: commands are inserted by the cycle's `insert` (or `Store.submit`, their
// own transaction), decided by the cycle's `write`, read through `Inbox`. The store's own tables only.
async function open(t: { teardown(fn: () => unknown): void }) {
  const store = await openSqliteStore({ file: join(tempDir(t), 'inbox.db'), busyTimeoutMs: 100, projections: [] })
  t.teardown(() => store.close())
  const { ops, inbox } = store
  /** Runs `fn` in a write transaction of its own (the contract of the cycle's insert and write). */
  const tx = <T>(fn: () => T): Promise<T> => store.sql.writeSync(fn)
  /** Records `command`'s outcome without an event (the cycle's write with this one outcome). Call inside a transaction. */
  const recordOutcome = (command: InboxCommand, outcome: Omit<Outcome, 'eventPosition'>) => {
    const plan: WritePlan = { appends: [], outcomes: [{ seq: command.seq, commandId: command.commandId, outcome, event: null }], snapshots: [], waits: [] }
    return ops.write(plan)
  }
  return { store, ops, inbox, tx, recordOutcome, submit: (...commands: NewCommand[]) => store.submit(commands) }
}

let n = 0
function command(overrides: Partial<NewCommand> = {}): NewCommand {
  n++
  return {
    commandId: `cmd-${n}`,
    streamId: 'S1',
    partition: 0,
    payload: { type: 'SHIP' },
    metadata: { deviceId: 'dev-1' },
    idempotencyKey: null,
    requestHash: null,
    receivedAt: 1000 + n,
    ...overrides,
  }
}

t.test('commands inserted together keep their arrival order', async (t) => {
  const { inbox, submit } = await open(t)
  const results = await submit(command(), command(), command())
  t.same(results.map((r) => r.kind), ['new', 'new', 'new'])
  const seqs = results.map((r) => r.command!.seq)
  t.same(seqs, [...seqs].sort((a, b) => a - b), 'seq follows submission order')
  t.same((await inbox.pending([0], 10)).map((c) => c.seq), seqs)
  t.equal(await inbox.countPending(), 3)
})

t.test('an idempotency key is scoped to its device and bound to its request', async (t) => {
  const { inbox, submit } = await open(t)
  const [first] = await submit(command({ idempotencyKey: 'k', requestHash: 'h1' }))
  t.equal(first!.kind, 'new')
  const [again] = await submit(command({ idempotencyKey: 'k', requestHash: 'h1' }))
  t.same([again!.kind, again!.command!.commandId], ['replay', first!.command!.commandId], 'same key, same request: the first command')
  const [other] = await submit(command({ idempotencyKey: 'k', requestHash: 'h2' }))
  t.same([other!.kind, other!.command!.commandId], ['conflict', first!.command!.commandId], 'same key, other request: a conflict')
  const [otherDevice] = await submit(command({ idempotencyKey: 'k', requestHash: 'h2', metadata: { deviceId: 'dev-2' } }))
  t.equal(otherDevice!.kind, 'new', 'another device may use the same key')
  t.equal(await inbox.countPending(), 2)
})

t.test('the same key twice in one group commit: one command', async (t) => {
  const { submit } = await open(t)
  const [a, b] = await submit(command({ idempotencyKey: 'k2', requestHash: 'h' }), command({ idempotencyKey: 'k2', requestHash: 'h' }))
  t.same([a!.kind, b!.kind], ['new', 'replay'])
  t.equal(a!.command!.commandId, b!.command!.commandId)
})

t.test('an outcome is recorded once', async (t) => {
  const { inbox, ops, tx, recordOutcome, submit } = await open(t)
  const c = (await submit(command()))[0]!.command!
  const outcome = { status: 'rejected' as const, decidedState: 'registered', reason: 'invalid_transition', detail: 'no', streamVersion: 0, decidedAt: 5 }
  t.throws(() => recordOutcome(c, outcome), NotInTransactionError, 'an outcome outside the write transaction is refused')
  t.equal(await inbox.countPending(), 1, 'and not recorded')
  t.throws(() => ops.insert([command()]), NotInTransactionError, 'so is an insert meant for the group commit')
  t.equal(await inbox.countPending(), 1)
  await tx(() => recordOutcome(c, outcome))
  await t.rejects(tx(() => recordOutcome(c, { ...outcome, status: 'accepted' })), OutcomeConflictError)
  t.match(await inbox.get(c.commandId), { status: 'rejected', reason: 'invalid_transition', decidedAt: 5 })
  t.equal(await inbox.countPending(), 0)
})

t.test("the executor's write transaction is what the contract checks", async (t) => {
  const { store } = await open(t)
  t.throws(() => assertInTransaction(store.sql, 'a write'), NotInTransactionError, 'outside a transaction')
  const inside = store.sql.write(async (tx) => {
    assertInTransaction(tx, 'a write')
    return 'asserted'
  })
  t.equal(await inside, 'asserted', 'inside one')
})

t.test('pending commands of chosen partitions, in seq order', async (t) => {
  const { inbox, ops, tx, submit } = await open(t)
  const [a, b, c] = (await submit(command({ partition: 1 }), command({ partition: 2 }), command({ partition: 1 }))).map((r) => r.command) as [InboxCommand, InboxCommand, InboxCommand]
  t.same((await inbox.pending([1], 10)).map((x) => x.commandId), [a.commandId, c.commandId])
  t.same((await inbox.pending([2, 1], 10)).map((x) => x.commandId), [a.commandId, b.commandId, c.commandId])
  t.same((await tx(() => ops.pending('all', 1, []))).commands.map((x) => x.commandId), [a.commandId], 'every partition, the limit first')
})

t.test('request fingerprints ignore key order but not values', async (t) => {
  t.equal(canonicalJson({ b: 1, a: [1, { d: 2, c: 3 }] }), '{"a":[1,{"c":3,"d":2}],"b":1}')
  t.equal(fingerprintHash(['S1', { type: 'ASSIGN', truckId: 'T1' }]), fingerprintHash(['S1', { truckId: 'T1', type: 'ASSIGN' }]))
  t.not(fingerprintHash(['S1', { type: 'ASSIGN', truckId: 'T1' }]), fingerprintHash(['S2', { type: 'ASSIGN', truckId: 'T1' }]))
})

t.test('undecided commands follow a change of the partition count, in arrival order', async (t) => {
  const { inbox, tx, recordOutcome, submit } = await open(t)
  const [a, b, decided] = await submit(command({ streamId: 'S1', partition: 6 }), command({ streamId: 'S2', partition: 7 }), command({ streamId: 'S3', partition: 5 }))
  await tx(() => recordOutcome(decided!.command!, { status: 'accepted', decidedState: 'unregistered', reason: null, detail: null, streamVersion: 1, decidedAt: 1 }))
  const moved = await inbox.repartitionPending((streamId) => (streamId === 'S1' ? 1 : 3))
  t.equal(moved, 2)
  t.same((await inbox.pending([1, 3], 10)).map((c) => [c.commandId, c.partition]), [[a!.command!.commandId, 1], [b!.command!.commandId, 3]])
  t.equal((await inbox.get(decided!.command!.commandId))!.partition, 5, 'decided commands keep theirs')
  t.equal(await inbox.repartitionPending((streamId) => (streamId === 'S1' ? 1 : 3)), 0, 'nothing moves twice')
})
