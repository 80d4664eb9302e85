import { copyFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { backup } from '../../src/operations/backup.js'
import { verify } from '../../src/operations/verify.js'
import { startRedis } from '../helpers/redis.js'
import { startTestService, tempDir } from '../helpers/service.js'

// A restore from a backup must never let a feed consumer skip events: the restored database's
// positions jump past anything the original handed out after the backup, and a resume point the
// restored feed never handed out (inside that gap, or beyond its head) is refused with 409 feed-reset.

t.test('after a restore, a feed consumer is told to resume, never silently skips', async (t) => {
  const redis = await startRedis(t)
  const dataDir = tempDir(t)
  const original = await startTestService(t, { redis, dataDir })
  for (let i = 0; i < 5; i++) t.equal((await original.command(`R-${i}`, { type: 'REGISTER' })).status, 201)
  const file = join(tempDir(t), 'backup.db')
  t.match(await backup(original.service.storage.store, original.config, file), { integrity: 'ok' })
  const atBackup = await original.service.storage.store.events.lastPosition()
  for (let i = 5; i < 10; i++) t.equal((await original.command(`R-${i}`, { type: 'REGISTER' })).status, 201)
  // A consumer read everything the original handed out.
  const consumer = (await original.request('GET', '/events?after=0')).body.last as number
  t.equal(consumer, atBackup + 5)
  await original.service.close()

  // Restore: the service is stopped, the copy put in place, the service started again.
  copyFileSync(file, join(dataDir, 'waybill.db'))
  for (const suffix of ['-wal', '-shm']) rmSync(join(dataDir, `waybill.db${suffix}`), { force: true })
  const restored = await startTestService(t, { redis, dataDir })
  t.equal(await restored.service.storage.store.events.lastPosition(), atBackup, 'the restored log ends where the backup was taken')

  const beyond = await restored.request('GET', `/events?after=${consumer}`)
  t.equal(beyond.status, 409, 'a resume point beyond the restored head is refused')
  t.match(beyond.body, { type: '/problems/feed-reset', resumeAfter: atBackup, detail: new RegExp(`restored from a backup taken at position ${atBackup}`) })

  // New commands after the restore: their positions are not the ones the original handed out.
  for (let i = 10; i < 15; i++) t.equal((await restored.command(`R-${i}`, { type: 'REGISTER' })).status, 201)
  const after = await restored.request('GET', `/events?after=${consumer}`)
  t.equal(after.status, 409, 'still refused once new events exist: the consumer would have skipped them')
  const resumed = await restored.request('GET', `/events?after=${atBackup}`)
  t.equal(resumed.status, 200)
  t.same(resumed.body.events.map((e: { shipmentId: string }) => e.shipmentId), ['R-10', 'R-11', 'R-12', 'R-13', 'R-14'], 'resuming where it is told, the consumer gets every new event')
  t.ok(resumed.body.events[0].position > consumer, 'and no position is handed out twice')

  const stream = await restored.service.app!.inject({ method: 'GET', url: '/events/stream', headers: { authorization: `Bearer ${restored.config.bootstrapToken}`, accept: 'text/event-stream', 'last-event-id': String(consumer) } })
  t.equal(stream.statusCode, 409, 'the SSE stream refuses the stale Last-Event-ID too')
  t.match(stream.json(), { type: '/problems/feed-reset', resumeAfter: atBackup })

  // A restart of the restored installation begins no further generation.
  const before = (await restored.service.storage.store.installation.info()).generation
  await restored.service.close()
  const again = await startTestService(t, { redis, dataDir })
  t.equal((await again.service.storage.store.installation.info()).generation, before)
  t.equal((await again.request('GET', `/events?after=${atBackup}`)).body.events.length, 5)
  t.same((await verify(again.service.storage.store)).problems, [], 'the restored log with its position gap passes verify')
})
