import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { openStorage } from '../../src/storage.js'
import { cliPath } from '../helpers/process.js'
import { startTestService, tempDir } from '../helpers/service.js'

// I5: a fresh process, rebuilding the read model from the log alone, yields the shipments the live
// service shows; `verify` replays every stream through the machine and agrees.
t.test('a fresh process rebuilt from the log yields the same shipments', async (t) => {
  const api = await startTestService(t)
  const plan: Array<[string, object]> = []
  for (let i = 0; i < 40; i++) {
    const id = `RB-${i}`
    plan.push([id, { type: 'REGISTER', origin: `O${i % 3}` }])
    if (i % 5 !== 0) plan.push([id, { type: 'ASSIGN', truckId: `T${i % 4}` }])
    if (i % 5 === 1) plan.push([id, { type: 'ASSIGN', truckId: 'T9' }])
    if (i % 5 === 2) plan.push([id, { type: 'UNASSIGN' }])
    if (i % 5 === 3) plan.push([id, { type: 'SHIP' }], [id, { type: 'DELIVER', receivedBy: 'R' }])
    if (i % 5 === 4) plan.push([id, { type: 'CANCEL' }])
    plan.push([id, { type: 'SHIP' }])
  }
  for (const [id, body] of plan) await api.command(id, body)
  const live = (await api.request('GET', '/shipments?limit=500')).body.items

  const copy = join(tempDir(t), 'waybill.db')
  await api.service.storage.db.backup(copy)
  const env = { ...process.env, WAYBILL_DATA_DIR: join(copy, '..'), WAYBILL_LOG_LEVEL: 'silent' }
  const cleared = openStorage({ databaseFile: copy, busyTimeoutMs: 100, bootstrapToken: undefined })
  cleared.db.exec('DELETE FROM shipments')
  cleared.close()

  const rebuild = spawnSync(process.execPath, [cliPath, 'projections', 'rebuild'], { env, encoding: 'utf8' })
  t.equal(rebuild.status, 0, rebuild.stderr)
  t.match(JSON.parse(rebuild.stdout), { rebuilt: ['stats', 'shipments'], events: Number })

  const rebuilt = openStorage({ databaseFile: copy, busyTimeoutMs: 100, bootstrapToken: undefined })
  t.teardown(() => rebuilt.close())
  t.same(rebuilt.queries.list({ limit: 500 }).items, live, 'same shipments, field for field')

  const check = spawnSync(process.execPath, [cliPath, 'verify'], { env, encoding: 'utf8' })
  t.equal(check.status, 0, check.stdout)
  t.match(JSON.parse(check.stdout), { streams: 40, problems: [] })

  // verify is not a test that cannot fail: a read model that disagrees with the log is reported.
  rebuilt.db.prepare(`UPDATE shipments SET state = 'delivered' WHERE shipment_id = 'RB-0'`).run()
  const broken = spawnSync(process.execPath, [cliPath, 'verify'], { env, encoding: 'utf8' })
  t.equal(broken.status, 1)
  t.match(JSON.parse(broken.stdout).problems[0], /^I5 RB-0/)
})
