import t from 'tap'
import { checkHistory, History } from '../helpers/history.js'
import { runScanner, seeded } from '../helpers/scanners.js'
import { startTestService } from '../helpers/service.js'

// The history checker itself must be able to fail: a clean run passes, a tampered database does not.
t.test('the checker passes a clean history and catches a lost command and a wrong outcome', async (t) => {
  const api = await startTestService(t, { http: true })
  const history = new History()
  const random = seeded(7)
  await Promise.all(Array.from({ length: 3 }, (_, i) => runScanner({ base: () => api.service.url!, shipmentId: `CK-${i}`, commands: 12, history, random })))
  const clean = checkHistory(api.service.storage, history)
  t.same(clean.problems, [])
  t.equal(clean.stats.unanswered, 0)

  const { db } = api.service.storage
  const accepted = db.prepare(`SELECT command_id, idempotency_key FROM commands WHERE status = 'accepted' AND type = 'ASSIGN' LIMIT 1`).get() as { command_id: string; idempotency_key: string }
  db.prepare(`UPDATE commands SET reason = 'same_truck' WHERE command_id = ?`).run(accepted.command_id)
  db.exec(`DROP TRIGGER commands_decided_once`)
  db.prepare(`UPDATE commands SET status = 'rejected' WHERE command_id = ?`).run(accepted.command_id)
  const rejectedKey = (db.prepare(`SELECT idempotency_key FROM commands WHERE status = 'rejected' AND command_id <> ? LIMIT 1`).pluck().get(accepted.command_id) ?? '') as string
  db.prepare('DELETE FROM commands WHERE idempotency_key = ?').run(rejectedKey)
  const tampered = checkHistory(api.service.storage, history)
  t.ok(tampered.problems.some((p) => p.startsWith(`LOST ${rejectedKey}`)), 'a deleted acknowledged command is reported lost')
  t.ok(tampered.problems.some((p) => p.includes(`${accepted.idempotency_key}: answered 200`)), 'an outcome that contradicts the answer is reported')
  t.ok(tampered.problems.some((p) => p.startsWith('oracle')), 'the oracle disagrees with the changed outcome')
})
