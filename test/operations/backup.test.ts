import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { backup } from '../../src/operations/backup.js'
import { openStorage } from '../../src/storage.js'
import { tempDir } from '../helpers/service.js'

/** SQLite header bytes 18/19: 1 = rollback journal (what VACUUM INTO writes), 2 = WAL. */
const journalFormat = (file: string) => [...readFileSync(file).subarray(18, 20)]
const digest = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')

t.test('backup checks its copy without writing to it', async (t) => {
  const dir = tempDir(t)
  const config = { databaseFile: join(dir, 'waybill.db'), databaseUrl: undefined, busyTimeoutMs: 1000, bootstrapToken: undefined }
  const storage = await openStorage(config)
  t.teardown(() => storage.close())
  // One event, appended and projected in one write transaction.
  await storage.store.importEvents([{ streamId: 'PKG-1', version: 1, type: 'ShipmentRegistered', data: { origin: 'Depot A' }, metadata: { commandId: 'c1', machineVersion: '1' }, recordedAt: Date.now() }], [])

  const file = join(dir, 'copy.db')
  const report = await backup(storage.store, config, file)
  t.equal(report.integrity, 'ok')
  t.same(journalFormat(file), [1, 1], 'the copy keeps the rollback-journal format VACUUM INTO gave it (not switched to WAL)')
  t.notOk(existsSync(`${file}-wal`) || existsSync(`${file}-shm`), 'no WAL or shared-memory file beside the copy')

  const before = digest(file)
  const again = await openStorage({ ...config, databaseFile: file }, Date.now, { readonly: true })
  t.teardown(() => again.close())
  t.equal(await again.store.events.lastPosition(), 1, 'a read-only storage reads the copy')
  await again.close()
  t.equal(digest(file), before, 'opening read-only changes no byte')
})

t.test('the checks change no byte of the copy: the file reported on is the one written and marked', async (t) => {
  const dir = tempDir(t)
  const config = { databaseFile: join(dir, 'waybill.db'), databaseUrl: undefined, busyTimeoutMs: 1000, bootstrapToken: undefined }
  const storage = await openStorage(config)
  t.teardown(() => storage.close())
  await storage.store.importEvents([{ streamId: 'PKG-2', version: 1, type: 'ShipmentRegistered', data: {}, metadata: { commandId: 'c2', machineVersion: '1' }, recordedAt: Date.now() }], [])

  // backup with openStore watched: the copy's bytes when its check opens it, and how it opens it. The
  // mock is keyed by the file the import resolves to: under tsx (.taprc) that is the .ts source.
  const real = await import('../../src/storage.js')
  const opened: Array<{ digest: string; readonly: boolean | undefined }> = []
  const watched = await t.mockImport<typeof import('../../src/operations/backup.js')>('../../src/operations/backup.js', {
    '../../src/storage.ts': {
      ...real,
      openStore: (cfg: Parameters<typeof real.openStore>[0], options: Parameters<typeof real.openStore>[1]) => {
        opened.push({ digest: digest(options!.file!), readonly: options!.readonly })
        return real.openStore(cfg, options)
      },
    },
  })
  const file = join(dir, 'checked.db')
  const report = await watched.backup(storage.store, config, file)
  t.equal(report.integrity, 'ok')
  t.same(report.verify.problems, [])
  t.equal(opened.length, 1, 'the copy is opened once, for its checks')
  t.equal(opened[0]!.readonly, true, 'read-only')
  t.equal(digest(file), opened[0]!.digest, 'integrity_check and verify left every byte as it was')
  const marked = await openStorage({ ...config, databaseFile: file }, Date.now, { readonly: true })
  t.teardown(() => marked.close())
  t.equal((await marked.store.sql.get<{ renew: number }>('SELECT renew_generation AS renew FROM installation'))!.renew, 1, 'the one mark: a restore from it begins a new feed generation')
})
