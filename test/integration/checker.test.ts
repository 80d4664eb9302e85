import { join } from 'node:path'
import type { Database } from 'better-sqlite3'
import t from 'tap'
import { openStorage, type Storage } from '../../src/storage.js'
import { sqliteDb } from '../helpers/db.js'
import { checkHistory, History, type CheckResult, type ProblemKind } from '../helpers/history.js'
import { runScanner, seeded } from '../helpers/scanners.js'
import { startTestService, tempDir, type TestService } from '../helpers/service.js'

// The history checker must be able to fail. A clean run (three scanners per shipment at once) passes;
// each negative control — a fault switched on in the service, or one planted change to what the
// service recorded — makes it name the right problem. The fence control needs two worker processes:
// test/integration/workers.test.ts.

/** Three shipments, three scanners each, at once, over real HTTP. */
async function run(api: TestService, seed: number, options: { duplicateRate?: number; respondAsync?: boolean } = {}): Promise<History> {
  const history = new History()
  const random = seeded(seed)
  await Promise.all(
    Array.from({ length: 9 }, (_, i) =>
      runScanner({ base: () => api.service.url!, shipmentId: `CK-${i % 3}`, scannerId: `CK-${i % 3}-s${Math.floor(i / 3)}`, commands: 14, history, random, ...options }),
    ),
  )
  return history
}

const kindsOf = (result: CheckResult) => Object.keys(result.kinds) as ProblemKind[]

t.test('a clean history with several scanners per shipment passes', async (t) => {
  const api = await startTestService(t, { http: true })
  const history = await run(api, 7)
  const clean = await checkHistory(api.service.storage, history)
  t.comment(JSON.stringify(clean.stats))
  t.same(clean.problems, [])
  t.equal(clean.stats.unanswered, 0)
  t.equal(clean.stats.scanners, 9)
  t.ok(clean.stats.accepted > 20 && clean.stats.rejected > 5, 'scanners racing on one shipment get both outcomes')

  // Each planted change on its own copy of the database.
  const dir = tempDir(t)
  let copies = 0
  const copy = async (): Promise<Storage> => {
    const file = join(dir, `copy-${++copies}.db`)
    await sqliteDb(api.service.storage).backup(file)
    const storage = await openStorage({ databaseFile: file, databaseUrl: undefined, busyTimeoutMs: 1000, bootstrapToken: undefined })
    t.teardown(() => storage.close())
    return storage
  }
  const planted = async (name: string, kind: ProblemKind, change: (db: Database) => string) => {
    const storage = await copy()
    const what = change(sqliteDb(storage))
    const result = await checkHistory(storage, history)
    t.comment(`${name} (${what}): ${JSON.stringify(result.kinds)}; first: ${result.problems[0]}`)
    t.ok((result.kinds[kind] ?? 0) > 0, `${name}: the checker reports ${kind} (it reported ${kindsOf(result).join(', ') || 'nothing'})`)
    return result
  }

  // The review's first planted bug: an accepted ASSIGN rewritten in the log and the read model, while
  // the scanner had been told the truck it asked for.
  await planted('one event\'s data corrupted', 'EVENT', (db) => {
    const e = db.prepare(`SELECT position, stream_id FROM events WHERE type = 'TruckAssigned' ORDER BY position DESC LIMIT 1`).get() as { position: number; stream_id: string }
    db.exec('DROP TRIGGER events_no_update')
    db.prepare(`UPDATE events SET data = json_set(data, '$.truckId', 'T-WRONG') WHERE position = ?`).run(e.position)
    db.prepare(`UPDATE shipments SET truck_id = 'T-WRONG' WHERE shipment_id = ? AND last_position = ?`).run(e.stream_id, e.position)
    return `event ${e.position} of ${e.stream_id}`
  })

  await planted('one command dropped', 'LOST', (db) => {
    const key = db.prepare(`SELECT idempotency_key FROM commands WHERE status = 'rejected' ORDER BY seq DESC LIMIT 1`).pluck().get() as string
    db.prepare('DELETE FROM commands WHERE idempotency_key = ?').run(key)
    return `key ${key}`
  })

  await planted('two commands swapped', 'ORDER', (db) => {
    // Two commands of one shipment from one scanner, the second sent after the first was answered.
    const keys = [...new Set(history.attempts.filter((x) => x.scannerId === 'CK-0-s0').map((x) => x.key))].slice(3, 5)
    const [a, b] = db.prepare(`SELECT seq FROM commands WHERE idempotency_key IN (?, ?) ORDER BY seq`).pluck().all(...keys) as [number, number]
    db.transaction(() => {
      db.prepare('UPDATE commands SET seq = -1 WHERE seq = ?').run(a)
      db.prepare('UPDATE commands SET seq = ? WHERE seq = ?').run(a, b)
      db.prepare('UPDATE commands SET seq = ? WHERE seq = -1').run(b)
    })()
    return `seq ${a} ⇄ ${b}`
  })

  // The review's second planted bug: a second inbox row for a DELIVER, decided as the rejection a
  // repeat would get.
  await planted('a command nobody sent', 'ORPHAN', (db) => {
    const d = db.prepare(`SELECT * FROM commands WHERE type IN ('DELIVER', 'SHIP') AND status = 'accepted' ORDER BY seq DESC LIMIT 1`).get() as Record<string, unknown>
    db.prepare(
      `INSERT INTO commands (command_id, stream_id, partition, type, payload, metadata, device_id, idempotency_key, request_hash, received_at, status, reason, detail, stream_version, decided_at)
       VALUES (@id, @stream_id, @partition, @type, @payload, @metadata, @device_id, NULL, NULL, @received_at, 'rejected', 'invalid_transition', 'planted', @stream_version, @decided_at)`,
    ).run({ ...d, id: `${String(d.command_id).slice(0, -4)}beef` })
    return `after ${String(d.command_id)}`
  })

  // The same, from a device none of the scanners is: every device's commands must be accounted for.
  await planted('a command from another device nobody sent', 'ORPHAN', (db) => {
    const d = db.prepare(`SELECT * FROM commands WHERE type = 'ASSIGN' AND status = 'rejected' ORDER BY seq DESC LIMIT 1`).get() as Record<string, unknown>
    db.prepare(
      `INSERT INTO commands (command_id, stream_id, partition, type, payload, metadata, device_id, idempotency_key, request_hash, received_at, status, reason, detail, stream_version, decided_at)
       VALUES (@id, @stream_id, @partition, @type, @payload, @metadata, 'hand-X', 'k-from-nowhere', NULL, @received_at, @status, @reason, @detail, @stream_version, @decided_at)`,
    ).run({ ...d, id: `${String(d.command_id).slice(0, -4)}cafe` })
    return `device hand-X, after ${String(d.command_id)}`
  })

  await planted('an outcome changed', 'OUTCOME', (db) => {
    const id = db.prepare(`SELECT command_id FROM commands WHERE status = 'rejected' AND reason = 'invalid_transition' LIMIT 1`).pluck().get() as string
    db.exec('DROP TRIGGER commands_decided_once')
    db.prepare(`UPDATE commands SET reason = 'same_truck' WHERE command_id = ?`).run(id)
    return id
  })
})

t.test('negative control: idempotency dedupe switched off (WAYBILL_FAULTS=no-dedupe)', async (t) => {
  const api = await startTestService(t, { http: true, env: { WAYBILL_FAULTS: 'no-dedupe' } })
  // Every fifth command is resent with its key, as a scanner does after a lost answer.
  const history = await run(api, 11, { duplicateRate: 0.2 })
  const result = await checkHistory(api.service.storage, history)
  t.comment(`${JSON.stringify(result.kinds)}; first: ${result.problems[0]}`)
  t.ok((result.kinds.DUPLICATE ?? 0) > 0, `resent keys became second commands: DUPLICATE (reported: ${kindsOf(result).join(', ')})`)
})

t.test('answers polled after a 202 are judged like synchronous ones', async (t) => {
  // Prefer: respond-async: every command is answered 202 and followed up on GET /commands/{id}.
  const api = await startTestService(t, { http: true })
  const history = await run(api, 13, { respondAsync: true })
  const clean = await checkHistory(api.service.storage, history)
  t.comment(JSON.stringify(clean.stats))
  t.same(clean.problems, [])
  const polled = history.attempts.filter((a) => a.status === 202 && a.polls?.some((p) => p.status === 200 && p.response.outcome !== 'queued'))
  const rejections = polled.filter((a) => a.polls!.some((p) => p.response.outcome === 'rejected'))
  t.ok(polled.length > 50 && rejections.length > 5, `${polled.length} commands decided on a poll, ${rejections.length} of them rejections`)

  // What the service would have told a client had a poll said another thing than the log: each must
  // be named (the answers live in the history, so the planted change is made there).
  const tamper = (name: string, pick: (a: (typeof polled)[number]) => boolean, change: (body: Record<string, unknown>) => void) => {
    const target = polled.find(pick)!
    const i = target.polls!.findIndex((p) => p.status === 200 && p.response.outcome !== 'queued')
    const original = target.polls![i]!
    const body = structuredClone(original.response) as Record<string, unknown>
    change(body)
    target.polls![i] = { ...original, response: body }
    return async () => {
      const result = await checkHistory(api.service.storage, history)
      target.polls![i] = original
      t.comment(`${name}: ${JSON.stringify(result.kinds)}; first: ${result.problems[0]}`)
      t.ok((result.kinds.ANSWER ?? 0) > 0 && result.problems.some((p) => p.includes(target.key)), `${name}: the checker reports ANSWER for ${target.key} (it reported ${kindsOf(result).join(', ') || 'nothing'})`)
    }
  }
  await tamper('a polled acceptance with another event version', (a) => a.polls!.some((p) => p.response.outcome === 'accepted'), (b) => {
    const event = b.event as { version: number }
    b.event = { ...event, version: event.version + 1 }
  })()
  await tamper('a polled rejection with another reason', (a) => a.polls!.some((p) => p.response.reason === 'invalid_transition'), (b) => (b.reason = 'same_truck'))()
  await tamper('a polled rejection with another allowed list', (a) => a.polls!.some((p) => p.response.outcome === 'rejected' && Array.isArray(p.response.allowed)), (b) => (b.allowed = ['REGISTER', 'X']))()
  await tamper('a poll naming another command', () => true, (b) => (b.commandId = '00000000-0000-0000-0000-000000000000'))()
})
