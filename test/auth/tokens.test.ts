import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { openStorage } from '../../src/storage.js'
import { sqliteDb } from '../helpers/db.js'
import { tempDir } from '../helpers/service.js'

// A token's last sighting is kept in memory on the request path and written by flushSeen: a write
// there would wait for another process's write lock (up to the busy timeout) with the event loop blocked.

t.test('verify writes nothing, even while another process holds the write lock; flushSeen writes later', async (t) => {
  let now = 1_000_000
  const file = join(tempDir(t), 'tokens.db')
  const storage = await openStorage({ databaseFile: file, databaseUrl: undefined, busyTimeoutMs: 2000, bootstrapToken: undefined }, () => now)
  t.teardown(() => storage.close())
  const { token, info } = await storage.tokens.create({ deviceId: 'scanner-1', role: 'scanner' })
  const stored = () => sqliteDb(storage).prepare('SELECT last_seen_at FROM tokens WHERE token_id = ?').pluck().get(info.tokenId)

  const other = new Database(file)
  t.teardown(() => other.close())
  other.exec('BEGIN IMMEDIATE') // another process is writing
  const started = performance.now()
  t.match(await storage.tokens.verify(token), { tokenId: info.tokenId, deviceId: 'scanner-1', role: 'scanner' })
  const took = performance.now() - started
  t.ok(took < 1000, `verify took ${took.toFixed(1)} ms under another's write lock (busy timeout 2000 ms)`)
  t.equal(stored(), null, 'nothing written on the request path')
  t.equal((await storage.tokens.get(info.tokenId))?.lastSeenAt, new Date(now).toISOString(), 'the sighting is known at once')

  const flushStarted = performance.now()
  t.equal(await storage.tokens.flushSeen(), 0, 'a flush while the lock is held writes nothing…')
  t.ok(performance.now() - flushStarted < 1000, '…and does not wait for the lock')
  other.exec('ROLLBACK')
  t.equal(await storage.tokens.flushSeen(), 1, 'the next flush writes it')
  t.equal(stored(), now)
  t.equal(sqliteDb(storage).pragma('busy_timeout', { simple: true }), 2000, 'the busy timeout is restored')

  // At most one sighting per minute per token; a newer one replaces the one kept.
  now += 30_000
  await storage.tokens.verify(token)
  t.equal(await storage.tokens.flushSeen(), 0, 'seen again within the minute: nothing to write')
  now += 31_000
  await storage.tokens.verify(token)
  t.equal(stored(), 1_000_000, 'still in memory only')
  t.same((await storage.tokens.list()).map((i) => i.lastSeenAt), [new Date(now).toISOString()], 'list shows it too')
  t.equal(await storage.tokens.flushSeen(), 1)
  t.equal(stored(), now)
})
