import { spawnSync } from 'node:child_process'
import t from 'tap'
import { reviewProjection } from '../../src/projections/review.js'
import type { Storage } from '../../src/storage.js'
import { eachAdapter } from '../helpers/adapters.js'
import { cliCwd, cliEnv, cliPath } from '../helpers/process.js'
import { startTestService } from '../helpers/service.js'

// I5: a fresh process, rebuilding the read model from the log alone, yields the shipments the live
// service shows; `verify` replays every stream through the machine and agrees.
eachAdapter(t, 'a fresh process rebuilt from the log yields the same shipments', async (t, adapter) => {
  const api = await startTestService(t, { env: adapter.env })
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
  // A truck opened at a dock: two shipments leave with its departure (the trucks' and review read
  // models have rows of every kind), a third is refused for lack of room.
  const truck = async (body: object) => t.equal((await api.request('POST', '/trucks/T7/commands', body)).status < 300, true, JSON.stringify(body))
  await truck({ type: 'OPEN', capacity: 2, destination: 'Lyon' })
  for (const id of ['TR-1', 'TR-2', 'TR-3']) {
    await api.command(id, { type: 'REGISTER', destination: 'Lyon' })
    await api.command(id, { type: 'ASSIGN', truckId: 'T7' })
  }
  await truck({ type: 'DEPART' })
  await api.command('TR-1', { type: 'DELIVER' })
  const live = (await api.request('GET', '/shipments?limit=500')).body.items

  // The service stops; the CLI works on its database from here on.
  await api.service.close()
  const env = cliEnv({ ...adapter.env, WAYBILL_DATA_DIR: api.dataDir, WAYBILL_LOG_LEVEL: 'silent' })
  // The live read models, row for row, then emptied: the rebuild must bring back exactly these.
  const readModels = ['shipments', 'trucks', 'truck_loads', ...reviewProjection.tables]
  const storage = await adapter.storage({ dataDir: api.dataDir })
  // Every row, in an order that depends on nothing but the rows.
  const rowsOf = async (storage: Storage) =>
    Promise.all(readModels.map(async (table) => (await storage.store.sql.all(`SELECT * FROM ${table}`)).map((row) => JSON.stringify(row)).sort()))
  const liveRows = await rowsOf(storage)
  t.ok(liveRows.every((rows) => rows.length > 0), 'the live read models are not empty')
  await storage.store.sql.write(async (tx) => {
    for (const table of readModels) await tx.run(`DELETE FROM ${table}`)
  })

  const rebuild = spawnSync(process.execPath, [cliPath, 'projections', 'rebuild'], { cwd: cliCwd, env, encoding: 'utf8' })
  t.equal(rebuild.status, 0, rebuild.stderr)
  t.match(JSON.parse(rebuild.stdout), { rebuilt: ['shipments', 'trucks', 'review'], events: Number })

  t.same(await rowsOf(storage), liveRows, 'the rebuilt read models (shipments, trucks, the review tables) are the live ones, row for row')
  t.same((await storage.queries.list({ limit: 500 })).items, live, 'same shipments in the API, field for field')

  const check = spawnSync(process.execPath, [cliPath, 'verify'], { cwd: cliCwd, env, encoding: 'utf8' })
  t.equal(check.status, 0, check.stdout)
  t.match(JSON.parse(check.stdout), { streams: 44, problems: [] })

  // verify is not a test that cannot fail: a read model that disagrees with the log is reported.
  await storage.store.sql.write((tx) => tx.run(`UPDATE shipments SET state = 'delivered' WHERE shipment_id = 'RB-0'`))
  const broken = spawnSync(process.execPath, [cliPath, 'verify'], { cwd: cliCwd, env, encoding: 'utf8' })
  t.equal(broken.status, 1)
  t.match(JSON.parse(broken.stdout).problems[0], /^I5 RB-0/)
})
