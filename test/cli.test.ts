import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { openStorage } from '../src/storage.js'
import { History } from './helpers/history.js'
import { cliPath } from './helpers/process.js'
import { runScanner, seeded } from './helpers/scanners.js'
import { startTestService, tempDir } from './helpers/service.js'

const exec = promisify(execFile)

/** Runs the built CLI against a data directory; never throws, returns the exit code and outputs. */
async function waybill(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [cliPath, ...args], { env: { ...process.env, WAYBILL_LOG_LEVEL: 'silent', ...env }, maxBuffer: 64 * 2 ** 20 })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

t.test('the waybill CLI', async (t) => {
  const api = await startTestService(t, { http: true })
  const env = { WAYBILL_DATA_DIR: api.dataDir, REDIS_URL: api.redis.url, WAYBILL_EMBEDDED_REDIS: 'never' }
  const history = new History()
  const random = seeded(11)
  await Promise.all(Array.from({ length: 12 }, (_, i) => runScanner({ base: () => api.service.url!, shipmentId: `CLI-${i}`, commands: 15, history, random })))

  t.test('--help everywhere', async (t) => {
    for (const command of [[], ['serve'], ['worker'], ['tokens'], ['tokens', 'create'], ['tokens', 'list'], ['tokens', 'revoke'], ['replay'], ['projections', 'rebuild'], ['events', 'export'], ['events', 'import'], ['backup'], ['verify'], ['doctor']]) {
      const res = await waybill([...command, '--help'], env)
      t.equal(res.code, 0, `waybill ${command.join(' ')} --help`)
      t.match(res.stdout, /Usage: waybill/)
    }
    t.match((await waybill(['--help'], env)).stdout, /WAYBILL_PARTITIONS/, 'the configuration is listed')
  })

  t.test('tokens create | list | revoke', async (t) => {
    const created = await waybill(['tokens', 'create', '--device', 'scanner-9', '--role', 'scanner', '--label', 'dock 3'], env)
    t.equal(created.code, 0, created.stderr)
    const token = JSON.parse(created.stdout) as { token: string; tokenId: string }
    t.match(token, { token: /^wb_/, deviceId: 'scanner-9', role: 'scanner', label: 'dock 3' })
    t.match(created.stderr, /shown only this once/)
    t.equal((await api.request('GET', '/shipments', undefined, { authorization: `Bearer ${token.token}` })).status, 200, 'the new token works')
    const list = await waybill(['tokens', 'list'], env)
    t.ok(list.stdout.includes(token.tokenId))
    t.notOk(list.stdout.includes(token.token), 'list never shows secrets')
    t.match(JSON.parse((await waybill(['tokens', 'revoke', token.tokenId], env)).stdout), { revokedAt: String })
    t.equal((await api.request('GET', '/shipments', undefined, { authorization: `Bearer ${token.token}` })).status, 401, 'revoked at once')
    t.equal((await waybill(['tokens', 'revoke', token.tokenId], env)).code, 2, 'revoking twice is an error')
    t.equal((await waybill(['tokens', 'create', '--device', 'x', '--role', 'king'], env)).code, 1, 'an unknown role is refused')
  })

  t.test('replay prints the state after each event', async (t) => {
    const res = await waybill(['replay', 'CLI-0'], env)
    t.equal(res.code, 0)
    t.match(res.stdout, /^v1 .* ShipmentRegistered\s+→ registered/m)
    const json = (await waybill(['replay', 'CLI-0', '--json'], env)).stdout.trim().split('\n').map((l) => JSON.parse(l))
    t.same(json.map((s) => s.version), json.map((_, i) => i + 1))
    t.equal(json.at(-1).state, api.service.storage.queries.get('CLI-0')!.state)
    t.equal((await waybill(['replay', 'NOBODY'], env)).code, 2)
  })

  t.test('export → import into an empty data directory → verify passes, shipments identical', async (t) => {
    const exported = await waybill(['events', 'export'], env)
    t.equal(exported.code, 0)
    const lines = exported.stdout.trim().split('\n')
    t.equal(lines.length, api.service.storage.store.lastPosition(), 'every event exported')
    const file = join(tempDir(t), 'events.ndjson')
    writeFileSync(file, exported.stdout)
    const target = tempDir(t)
    const targetEnv = { ...env, WAYBILL_DATA_DIR: target }
    const imported = await waybill(['events', 'import', file], targetEnv)
    t.equal(imported.code, 0, imported.stderr)
    t.same(JSON.parse(imported.stdout), { imported: lines.length })
    const verified = await waybill(['verify'], targetEnv)
    t.equal(verified.code, 0, verified.stdout)
    t.match(JSON.parse(verified.stdout), { problems: [] })
    const copy = openStorage({ databaseFile: join(target, 'waybill.db'), busyTimeoutMs: 1000, bootstrapToken: undefined })
    t.teardown(() => copy.close())
    t.same(copy.queries.list({ limit: 500 }).items, api.service.storage.queries.list({ limit: 500 }).items)
    t.same(copy.store.readStream('CLI-3'), api.service.storage.store.readStream('CLI-3'), 'events identical, metadata and times included')

    // An impossible history is refused, and nothing of it is kept.
    const bad = join(tempDir(t), 'bad.ndjson')
    writeFileSync(bad, `${JSON.stringify({ position: 1, streamId: 'B', version: 1, type: 'ShipmentShipped', data: { truckId: 'T' }, metadata: {}, recordedAt: '2026-11-27T10:00:00Z' })}\n`)
    const refused = await waybill(['events', 'import', bad], { ...env, WAYBILL_DATA_DIR: tempDir(t) })
    t.equal(refused.code, 2)
    t.match(refused.stderr, /line 1: ShipmentShipped is not a valid transition/)
  })

  t.test('backup while commands are flowing: the copy passes integrity_check and verify', async (t) => {
    const flowing = Promise.all(Array.from({ length: 8 }, (_, i) => runScanner({ base: () => api.service.url!, shipmentId: `BK-${i}`, commands: 60, history, random })))
    await new Promise((resolve) => setTimeout(resolve, 150))
    const file = join(tempDir(t), 'backup.db')
    const res = await waybill(['backup', file], env)
    await flowing
    t.equal(res.code, 0, res.stderr)
    const report = JSON.parse(res.stdout)
    t.match(report, { file, integrity: 'ok', verify: { problems: [] } })
    t.ok(report.bytes > 0 && report.verify.events > 0)
    const copy = openStorage({ databaseFile: file, busyTimeoutMs: 1000, bootstrapToken: undefined })
    t.teardown(() => copy.close())
    t.equal(copy.db.pragma('integrity_check', { simple: true }), 'ok', 'the backup opens and is intact')
  })

  t.test('projections rebuild and doctor', async (t) => {
    const rebuilt = await waybill(['projections', 'rebuild'], env)
    t.equal(rebuilt.code, 0, rebuilt.stderr)
    t.match(JSON.parse(rebuilt.stdout), { rebuilt: ['stats', 'shipments'] })
    t.match(rebuilt.stderr, /events applied: \d+/, 'plain progress lines when stderr is not a terminal')
    const checks = await waybill(['doctor', '--json'], env)
    t.equal(checks.code, 0, checks.stdout)
    t.match(JSON.parse(checks.stdout), [{ name: 'config', status: 'ok' }, { name: 'node', status: 'ok' }, { name: 'disk' }, { name: 'sqlite', status: 'ok' }, { name: 'redis', status: 'ok' }])
    const broken = await waybill(['doctor'], { ...env, REDIS_URL: 'redis://127.0.0.1:1' })
    t.equal(broken.code, 1)
    t.match(broken.stdout, /FAIL\s+redis/)
    const nowhere = await waybill(['verify'], { ...env, WAYBILL_DATA_DIR: tempDir(t) })
    t.equal(nowhere.code, 2, 'verify on a directory without a database is an error, not an empty pass')
    t.match(nowhere.stderr, /no database at/)
    const badConfig = await waybill(['verify'], { ...env, WAYBILL_PARTITIONS: 'many' })
    t.equal(badConfig.code, 2)
    t.match(badConfig.stderr, /invalid configuration: .*WAYBILL_PARTITIONS/, 'a bad setting is named')
  })
})
