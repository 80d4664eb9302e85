import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { holdExclusive } from '../../src/store/sqlite/served-lock.js'
import { startCluster } from '../helpers/cluster.js'
import { runWaybill, spawnWaybill } from '../helpers/process.js'
import { bootstrapToken, http, tempDir } from '../helpers/service.js'

const waybill = runWaybill

const line = (streamId: string, version: number, type: string, data: object) =>
  JSON.stringify({ position: 0, streamId, version, type, data, metadata: { commandId: `${streamId}-${version}`, machineVersion: '1' }, recordedAt: '2026-11-27T10:00:00Z' })

/**
 * `events import` writes events and read models without the service's fencing or inbox: it is refused
 * while any serve or worker process runs on the data directory (also one started with no Redis
 * answering), and a serve is refused while an import holds the database.
 */
t.test('events import is refused while the database is served', async (t) => {
  const cluster = await startCluster(t)
  const file = join(tempDir(t), 'events.ndjson')
  writeFileSync(file, `${line('IMP-1', 1, 'ShipmentRegistered', {})}\n`)
  const serve = await cluster.serve()
  await http(cluster.base, 'POST', '/shipments/LIVE-1/commands', { type: 'REGISTER' })
  const before = await (await cluster.storage()).store.events.lastPosition()

  const refused = await waybill(['events', 'import', file], cluster.env)
  t.equal(refused.code, 2, refused.stderr)
  t.match(refused.stderr, /is being served .* stop every process/)
  t.equal(await (await cluster.storage()).store.events.lastPosition(), before, 'nothing was imported')
  t.equal((await (await cluster.storage()).store.events.readStream('IMP-1')).length, 0)

  // A worker alone counts as serving too.
  await serve.stop()
  const worker = cluster.worker()
  await worker.waitFor(/waybill worker running/)
  t.equal((await waybill(['events', 'import', file], cluster.env)).code, 2, 'refused while a worker runs')
  // A process killed -9 leaves no stale marker.
  await worker.kill9()
  const imported = await waybill(['events', 'import', file], cluster.env)
  t.equal(imported.code, 0, imported.stderr)
  t.same(JSON.parse(imported.stdout), { imported: 1 })
  t.equal((await (await cluster.storage()).store.events.readStream('IMP-1')).length, 1)
})

t.test('serve is refused while an import holds the database', async (t) => {
  const cluster = await startCluster(t)
  const first = await cluster.serve()
  await first.stop()
  const lock = holdExclusive(join(cluster.dataDir, 'waybill.db'))
  t.teardown(() => lock.release())
  const refused = spawnWaybill(t, ['serve'], cluster.env)
  t.equal(await refused.exited, 2)
  t.match(refused.lines.join('\n'), /an events import is writing to/)
  lock.release()
  const again = await cluster.serve()
  t.equal((await http(cluster.base, 'GET', '/health', undefined, { authorization: `Bearer ${bootstrapToken}` })).status, 200)
  await again.stop()
})
