import { join } from 'node:path'
import t from 'tap'
import { Inbox, OutcomeConflictError, type InboxCommand, type NewCommand, type SubmitResult } from '../../src/inbox/inbox.js'
import { inboxMigrations } from '../../src/inbox/migrations.js'
import { canonicalJson, fingerprintHash } from '../../src/inbox/intake.js'
import { migrate, openDatabase } from '../../src/store/database.js'
import { storeMigrations } from '../../src/store/migrations.js'
import { tempDir } from '../helpers/service.js'

function open(t: { teardown(fn: () => unknown): void }) {
  const db = openDatabase(join(tempDir(t), 'inbox.db'), { busyTimeoutMs: 100 })
  t.teardown(() => db.close())
  migrate(db, [...storeMigrations, ...inboxMigrations])
  return { db, inbox: new Inbox(db) }
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
  const { inbox } = open(t)
  const results = inbox.submitNow(command(), command(), command())
  t.same(results.map((r) => r.kind), ['new', 'new', 'new'])
  const seqs = results.map((r) => r.command.seq)
  t.same(seqs, [...seqs].sort((a, b) => a - b), 'seq follows submission order')
  t.same(inbox.pending(10).map((c) => c.seq), seqs)
  t.equal(inbox.countPending(), 3)
})

t.test('an idempotency key is scoped to its device and bound to its request', async (t) => {
  const { inbox } = open(t)
  const [first] = inbox.submitNow(command({ idempotencyKey: 'k', requestHash: 'h1' })) as [SubmitResult]
  t.equal(first.kind, 'new')
  const [again] = inbox.submitNow(command({ idempotencyKey: 'k', requestHash: 'h1' })) as [SubmitResult]
  t.same([again.kind, again.command.commandId], ['replay', first.command.commandId], 'same key, same request: the first command')
  const [other] = inbox.submitNow(command({ idempotencyKey: 'k', requestHash: 'h2' })) as [SubmitResult]
  t.same([other.kind, other.command.commandId], ['conflict', first.command.commandId], 'same key, other request: a conflict')
  const [otherDevice] = inbox.submitNow(command({ idempotencyKey: 'k', requestHash: 'h2', metadata: { deviceId: 'dev-2' } })) as [SubmitResult]
  t.equal(otherDevice.kind, 'new', 'another device may use the same key')
  t.equal(inbox.countPending(), 2)
})

t.test('the same key twice in one group commit: one command', async (t) => {
  const { inbox } = open(t)
  const [a, b] = inbox.submitNow(command({ idempotencyKey: 'k2', requestHash: 'h' }), command({ idempotencyKey: 'k2', requestHash: 'h' }))
  t.same([a!.kind, b!.kind], ['new', 'replay'])
  t.equal(a!.command.commandId, b!.command.commandId)
})

t.test('an outcome is recorded once', async (t) => {
  const { inbox } = open(t)
  const { command: c } = inbox.submitNow(command())[0]!
  const outcome = { status: 'rejected' as const, decidedState: 'registered', reason: 'invalid_transition', detail: 'no', streamVersion: 0, eventPosition: null, decidedAt: 5 }
  inbox.recordOutcome(c, outcome)
  t.throws(() => inbox.recordOutcome(c, { ...outcome, status: 'accepted' }), OutcomeConflictError)
  t.match(inbox.get(c.commandId), { status: 'rejected', reason: 'invalid_transition', decidedAt: 5 })
  t.equal(inbox.countPending(), 0)
})

t.test('pending commands of chosen partitions, in seq order', async (t) => {
  const { inbox } = open(t)
  const [a, b, c] = inbox.submitNow(command({ partition: 1 }), command({ partition: 2 }), command({ partition: 1 })).map((r) => r.command) as [InboxCommand, InboxCommand, InboxCommand]
  t.same(inbox.pending(10, [1]).map((x) => x.commandId), [a.commandId, c.commandId])
  t.same(inbox.pending(10, [2, 1]).map((x) => x.commandId), [a.commandId, b.commandId, c.commandId])
  t.same(inbox.pending(1).map((x) => x.commandId), [a.commandId])
})

t.test('request fingerprints ignore key order but not values', async (t) => {
  t.equal(canonicalJson({ b: 1, a: [1, { d: 2, c: 3 }] }), '{"a":[1,{"c":3,"d":2}],"b":1}')
  t.equal(fingerprintHash(['S1', { type: 'ASSIGN', truckId: 'T1' }]), fingerprintHash(['S1', { truckId: 'T1', type: 'ASSIGN' }]))
  t.not(fingerprintHash(['S1', { type: 'ASSIGN', truckId: 'T1' }]), fingerprintHash(['S2', { type: 'ASSIGN', truckId: 'T1' }]))
})

t.test('undecided commands follow a change of the partition count, in arrival order', async (t) => {
  const { inbox } = open(t)
  const [a, b, decided] = inbox.submitNow(command({ streamId: 'S1', partition: 6 }), command({ streamId: 'S2', partition: 7 }), command({ streamId: 'S3', partition: 5 }))
  inbox.recordOutcome(decided!.command, { status: 'accepted', decidedState: 'unregistered', reason: null, detail: null, streamVersion: 1, eventPosition: null, decidedAt: 1 })
  const moved = inbox.repartitionPending((streamId) => (streamId === 'S1' ? 1 : 3))
  t.equal(moved, 2)
  t.same(inbox.pending(10, [1, 3]).map((c) => [c.commandId, c.partition]), [[a!.command.commandId, 1], [b!.command.commandId, 3]])
  t.equal(inbox.get(decided!.command.commandId)!.partition, 5, 'decided commands keep theirs')
  t.equal(inbox.repartitionPending((streamId) => (streamId === 'S1' ? 1 : 3)), 0, 'nothing moves twice')
})
