import { join } from 'node:path'
import t from 'tap'
import { verify } from '../../src/operations/verify.js'
import { openStorage } from '../../src/storage.js'
import { sqliteDb } from '../helpers/db.js'
import { checkHistory, History } from '../helpers/history.js'
import { runScanner, runTruckScanner, seeded } from '../helpers/scanners.js'
import { startTestService, tempDir } from '../helpers/service.js'

// A depot day with trucks, checked like every other history: four opened trucks of capacity 3 that
// depart and return, twelve shipments with two scanners each assigning them to those trucks and to
// two truck ids never opened, reassigning, unassigning, cancelling — all at once, over real HTTP.
// The checker's oracle replays both machines and the saga; verify judges the rules across actors.
t.test('a depot day with trucks: the history satisfies the oracle, the saga and the trucks’ rules', async (t) => {
  const api = await startTestService(t, { http: true })
  const base = () => api.service.url!
  const history = new History()
  const random = seeded(20261205)
  const trucks = ['D1', 'D2', 'D3', 'D4']
  await Promise.all([
    ...trucks.map((truckId) => runTruckScanner({ base, truckId, capacity: 3, trips: 3, history, random, pauseMs: 120 })),
    ...Array.from({ length: 24 }, (_, i) =>
      runScanner({ base, shipmentId: `DT-${i % 12}`, scannerId: `DT-${i % 12}-s${Math.floor(i / 12)}`, commands: 16, history, random, trucks: [...trucks, 'X1', 'X2'] }),
    ),
  ])
  const result = await checkHistory(api.service.storage, history)
  t.comment(JSON.stringify(result.stats))
  t.same(result.problems, [], 'no problem of any kind')
  const report = await verify(api.service.storage.store)
  t.equal(report.inFlight, 0, 'every saga ended')
  const sagas = await api.service.storage.store.sql.get<{ n: number }>(`SELECT count(*) AS n FROM commands WHERE metadata LIKE '%"origin":"saga"%'`)
  const shippedByTrucks = await api.service.storage.store.sql.get<{ n: number }>(`SELECT count(*) AS n FROM events WHERE type = 'ShipmentShipped' AND data LIKE '%byDeparture%'`)
  t.ok(sagas!.n > 50, `${sagas!.n} messages between actors`)
  t.ok(shippedByTrucks!.n > 0, `${shippedByTrucks!.n} shipments shipped by their truck's departure`)
  t.ok((result.stats.statuses['409'] ?? 0) > 0, 'both outcomes')

  // Negative controls, each on its own copy: a message lost, and a message that says something else.
  const dir = tempDir(t)
  let copies = 0
  const planted = async (name: string, change: (db: ReturnType<typeof sqliteDb>) => string) => {
    const file = join(dir, `copy-${++copies}.db`)
    await sqliteDb(api.service.storage).backup(file)
    const storage = await openStorage({ databaseFile: file, databaseUrl: undefined, busyTimeoutMs: 1000, bootstrapToken: undefined })
    t.teardown(() => storage.close())
    const what = change(sqliteDb(storage))
    const found = await checkHistory(storage, history)
    t.comment(`${name} (${what}): ${JSON.stringify(found.kinds)}; first: ${found.problems[0]}`)
    t.ok((found.kinds.SAGA ?? 0) > 0, `${name}: the checker reports SAGA (it reported ${Object.keys(found.kinds).join(', ') || 'nothing'})`)
  }
  await planted('a departure’s message to one shipment lost', (db) => {
    const id = db.prepare(`SELECT command_id FROM commands WHERE type = 'DEPART_SHIP' ORDER BY seq DESC LIMIT 1`).pluck().get() as string
    db.prepare('DELETE FROM commands WHERE command_id = ?').run(id)
    return id
  })
  await planted('a truck’s answer that says something else', (db) => {
    const row = db.prepare(`SELECT command_id, payload FROM commands WHERE type = 'TRUCK_REPLY' AND payload LIKE '%"outcome":"accepted"%' ORDER BY seq DESC LIMIT 1`).get() as { command_id: string; payload: string }
    db.prepare('UPDATE commands SET payload = ? WHERE command_id = ?').run(row.payload.replace('"outcome":"accepted"', '"outcome":"rejected","reason":"truck_full"'), row.command_id)
    return row.command_id
  })
})
