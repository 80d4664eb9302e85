import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import t from 'tap'
import { openStorage } from '../src/storage.js'
import { sqliteDb } from './helpers/db.js'
import { History } from './helpers/history.js'
import { cliCwd, cliEnv, cliPath, runWaybill } from './helpers/process.js'
import { runScanner, seeded } from './helpers/scanners.js'
import { eventually, startTestService, tempDir } from './helpers/service.js'

/** Runs the built CLI against a data directory (in an empty working directory, see cliCwd); never throws. */
const waybill = runWaybill

// Dozens of real CLI processes: on a loaded 2-core machine this file needs more than the default timeout.
t.setTimeout(600_000)

t.test("a developer's ./.env or exported settings never reach the CLI a test runs", async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, '.env'), 'WAYBILL_PARTITIONS=3\n')
  const there = spawnSync(process.execPath, [cliPath, 'config'], { cwd: dir, env: cliEnv(), encoding: 'utf8' })
  t.match(there.stdout, /^WAYBILL_PARTITIONS\s+3\s/m, 'the CLI loads ./.env from its working directory (the threat is real)')
  t.not(cliCwd, process.cwd(), 'tests run the CLI outside the checkout')
  t.notOk(existsSync(join(cliCwd, '.env')), 'in a directory without a .env')
  t.match((await waybill(['config'], {})).stdout, /^WAYBILL_PARTITIONS\s+\(8\)/m, 'so the setting is its default there')

  process.env.WAYBILL_FAULTS = 'crash-after-append'
  try {
    t.notOk('WAYBILL_FAULTS' in cliEnv(), "a setting exported in the developer's shell is not passed on")
    t.equal(cliEnv({ WAYBILL_FAULTS: 'x' }).WAYBILL_FAULTS, 'x', "the test's own settings are")
    t.ok(cliEnv().PATH, 'everything else is inherited')
  } finally {
    delete process.env.WAYBILL_FAULTS
  }
})

t.test('waybill --help loads commander and none of the service (issue 10 item 7: lazy loading)', async (t) => {
  // A module hook records every module the CLI resolves (written synchronously: hooks run on their own thread).
  const dir = tempDir(t)
  const loaded = join(dir, 'loaded.txt')
  writeFileSync(join(dir, 'hooks.mjs'), `import { appendFileSync } from 'node:fs'
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context)
  appendFileSync(${JSON.stringify(loaded)}, resolved.url + '\\n')
  return resolved
}
`)
  const register = `data:text/javascript,import{register}from'node:module';register(${JSON.stringify(new URL(`file://${join(dir, 'hooks.mjs')}`).href)})`
  const help = spawnSync(process.execPath, ['--import', register, cliPath, '--help'], { cwd: cliCwd, env: cliEnv(), encoding: 'utf8' })
  t.equal(help.status, 0, help.stderr)
  t.match(help.stdout, /Usage: waybill/)
  const urls = existsSync(loaded) ? readFileSync(loaded, 'utf8').trim().split('\n') : []
  t.ok(urls.some((u) => u.includes('/node_modules/commander/')), 'commander is loaded (the hook sees packages)')
  const heavy = ['fastify', 'bee-queue', 'better-sqlite3', 'pg', 'xstate', 'redis', 'pino', 'env-schema', 'typebox']
  t.same(heavy.filter((name) => urls.some((u) => u.includes(`/node_modules/${name}/`))), [], 'no server, queue, database, machine or validator package')
  t.notOk(urls.some((u) => /\/src\/(service|storage|config)\.js$/.test(u)), 'nor the service, the storage or the settings schema')
})

t.test('the waybill CLI', async (t) => {
  const api = await startTestService(t, { http: true })
  const env = { WAYBILL_DATA_DIR: api.dataDir, REDIS_URL: api.redis.url, WAYBILL_EMBEDDED_REDIS: 'never' }
  const history = new History()
  const random = seeded(11)
  await Promise.all(Array.from({ length: 12 }, (_, i) => runScanner({ base: () => api.service.url!, shipmentId: `CLI-${i}`, commands: 15, history, random })))

  t.test('--help everywhere', async (t) => {
    const commands = [[], ['init'], ['config'], ['parked', 'list'], ['parked', 'retry'], ['parked', 'discard'], ['serve'], ['worker'], ['tokens'], ['tokens', 'create'], ['tokens', 'list'], ['tokens', 'revoke'], ['replay'], ['projections', 'rebuild'], ['events', 'export'], ['events', 'import'], ['backup'], ['verify'], ['doctor']]
    const answers = await Promise.all(commands.map((command) => waybill([...command, '--help'], env)))
    for (const [i, command] of commands.entries()) {
      const res = answers[i]!
      t.equal(res.code, 0, `waybill ${command.join(' ')} --help`)
      t.match(res.stdout, /Usage: waybill/)
    }
    t.match((await waybill(['--help'], env)).stdout, /waybill config/, 'the help points to the configuration')
    const settings = await waybill(['config'], { ...env, WAYBILL_PARTITIONS: '8' })
    t.match(settings.stdout, /^WAYBILL_PARTITIONS\s+8\s+number of queue partitions$/m, 'waybill config lists every setting with its value here')
    t.match(settings.stdout, /^WAYBILL_ACTOR_CACHE\s+\(10000\)/m, 'and the default where unset')
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

  t.test('no command but init and serve creates a database in a wrong WAYBILL_DATA_DIR', async (t) => {
    const nowhere = { ...env, WAYBILL_DATA_DIR: join(tempDir(t), 'typo') }
    const commands = [['tokens', 'create', '--device', 'd', '--role', 'admin'], ['tokens', 'list'], ['tokens', 'revoke', 'x'], ['parked', 'list'], ['projections', 'rebuild'], ['events', 'export'], ['verify'], ['worker']]
    const answers = await Promise.all(commands.map((command) => waybill(command, nowhere)))
    for (const [i, command] of commands.entries()) {
      const res = answers[i]!
      t.equal(res.code, 2, `${command.join(' ')}: exit 2`)
      t.match(res.stderr, /^waybill: no database at .*typo\/waybill\.db \(check WAYBILL_DATA_DIR/m, 'says where it looked')
      t.notOk(existsSync(join(nowhere.WAYBILL_DATA_DIR, 'waybill.db')), 'and creates nothing')
    }
    const init = await waybill(['init'], nowhere)
    t.equal(init.code, 0, init.stderr)
    t.match(JSON.parse(init.stdout), { created: true, installation: /^[0-9a-f]{12}$/ })
    t.equal((await waybill(['tokens', 'list'], nowhere)).code, 0, 'after init the database is there')
    const renewed = JSON.parse((await waybill(['init', '--new-id'], nowhere)).stdout)
    t.not(renewed.installation, JSON.parse(init.stdout).installation, 'init --new-id gives a copy its own installation id')
  })

  t.test('tokens: a table, --json, revoke --device, several active tokens warned about', async (t) => {
    const first = JSON.parse((await waybill(['tokens', 'create', '--device', 'dock-7', '--role', 'scanner'], env)).stdout)
    const second = await waybill(['tokens', 'create', '--device', 'dock-7', '--role', 'scanner'], env)
    t.match(second.stderr, /warning: device dock-7 has 2 active tokens; finish the rotation/, 'a second active token on one device is warned about')
    const listed = await waybill(['tokens', 'list'], env)
    t.match(listed.stdout, /^TOKENID\s+DEVICEID\s+ROLE\s+LABEL\s+CREATEDAT\s+LASTSEENAT\s+REVOKEDAT$/m, 'a table with a header')
    t.match(listed.stdout, new RegExp(`^${first.tokenId}\\s+dock-7\\s+scanner\\s+-`, 'm'))
    t.match(listed.stderr, /device dock-7 has 2 active tokens/)
    t.ok(Array.isArray(JSON.parse((await waybill(['tokens', 'list', '--json'], env)).stdout)), '--json is JSON')
    const revoked = await waybill(['tokens', 'revoke', '--device', 'dock-7'], env)
    t.equal(revoked.code, 0, revoked.stderr)
    t.equal(JSON.parse(revoked.stdout).filter((r: { revokedAt: string | null }) => r.revokedAt).length, 2, 'every active token of the device is revoked')
    t.equal((await waybill(['tokens', 'revoke', '--device', 'dock-7'], env)).code, 2, 'none left: an error')
    t.equal((await waybill(['tokens', 'revoke'], env)).code, 2, 'a token id or --device is needed')
  })

  t.test('parked list | retry | discard', async (t) => {
    const list = await waybill(['parked', 'list'], env)
    t.equal(list.code, 0, list.stderr)
    t.match(list.stdout, /nothing is parked/)
    t.same(JSON.parse((await waybill(['parked', 'list', '--json'], env)).stdout), [])
    for (const verb of ['retry', 'discard']) {
      const res = await waybill(['parked', verb, 'NOT-PARKED'], env)
      t.equal(res.code, 2)
      t.match(res.stderr, /^waybill: shipment NOT-PARKED is not parked$/m)
    }
  })

  t.test('operator errors are one line', async (t) => {
    const after = await waybill(['events', 'export', '--after', 'abc'], env)
    t.equal(after.code, 2)
    t.equal(after.stderr.trim(), "waybill: --after must be a whole number ≥ 0, not 'abc'")
    const level = await waybill(['verify'], { ...env, WAYBILL_LOG_LEVEL: 'verbose' })
    t.equal(level.code, 2)
    t.equal(level.stderr.trim(), 'waybill: invalid configuration: WAYBILL_LOG_LEVEL=verbose is not one of fatal, error, warn, info, debug, trace, silent', 'one line listing the allowed values')
    const typo = await waybill(['tokens', 'list', '--json'], { ...env, WAYBILL_PARTITION: '4' })
    t.equal(typo.code, 0)
    t.match(typo.stderr, /^waybill: warning: WAYBILL_PARTITION is not a Waybill setting and is ignored; did you mean WAYBILL_PARTITIONS\?/m, 'a typo is named with the likely setting')
    const doctor = JSON.parse((await waybill(['doctor', '--json'], { ...env, WAYBILL_PARTITION: '4', WAYBILL_BOOTSTRAP_TOKEN: 'a-long-enough-bootstrap-token', HOST: '0.0.0.0', WAYBILL_FAULTS: 'ignore-leases' })).stdout) as Array<{ name: string; status: string; detail: string }>
    t.match(doctor.find((c) => c.name === 'config'), { status: 'warn', detail: /did you mean WAYBILL_PARTITIONS/ })
    t.match(doctor.find((c) => c.name === 'bootstrap'), { status: 'warn', detail: /WAYBILL_BOOTSTRAP_TOKEN IS SET WHILE THE API LISTENS ON 0\.0\.0\.0/ }, 'doctor flags the bootstrap token, loudly on the network')
    t.match(doctor.find((c) => c.name === 'faults'), { status: 'fail', detail: /WAYBILL_FAULTS=ignore-leases is set/ }, 'and fault injection')
  })

  t.test('replay prints the state after each event', async (t) => {
    const res = await waybill(['replay', 'CLI-0'], env)
    t.equal(res.code, 0)
    t.match(res.stdout, /^v1 .* ShipmentRegistered\s+→ registered/m)
    const json = (await waybill(['replay', 'CLI-0', '--json'], env)).stdout.trim().split('\n').map((l) => JSON.parse(l))
    t.same(json.map((s) => s.version), json.map((_, i) => i + 1))
    t.equal(json.at(-1).state, (await api.service.storage.queries.get('CLI-0'))!.state)
    t.equal((await waybill(['replay', 'NOBODY'], env)).code, 2)
  })

  t.test('export → import into an empty data directory → verify passes, shipments identical', async (t) => {
    const exported = await waybill(['events', 'export'], env)
    t.equal(exported.code, 0)
    const lines = exported.stdout.trim().split('\n')
    t.equal(lines.length, await api.service.storage.store.events.lastPosition(), 'every event exported')
    const file = join(tempDir(t), 'events.ndjson')
    writeFileSync(file, exported.stdout)
    const target = tempDir(t)
    const targetEnv = { ...env, WAYBILL_DATA_DIR: target }
    t.equal((await waybill(['events', 'import', file], targetEnv)).code, 2, 'import refuses a data directory without a database')
    t.equal((await waybill(['init'], targetEnv)).code, 0, 'init creates it')
    const missing = await waybill(['events', 'import', join(target, 'no-such.ndjson')], targetEnv)
    t.equal(missing.code, 2, 'a file that cannot be read is an operator error')
    t.match(missing.stderr, /^waybill: cannot read .*no-such\.ndjson \(ENOENT\)\n$/, 'said in one line, before anything is opened')
    const imported = await waybill(['events', 'import', file], targetEnv)
    t.equal(imported.code, 0, imported.stderr)
    t.same(JSON.parse(imported.stdout), { imported: lines.length })
    t.match(exported.stderr, /events only: command outcomes .* are not carried; to move an installation, use `waybill backup`/, 'export says plainly what it does not carry')
    t.match(imported.stderr, /events only: command outcomes .* are not carried/, 'and so does import')
    const verified = await waybill(['verify'], targetEnv)
    t.equal(verified.code, 0, verified.stdout)
    t.match(JSON.parse(verified.stdout), { problems: [] })
    const copy = await openStorage({ databaseFile: join(target, 'waybill.db'), databaseUrl: undefined, busyTimeoutMs: 1000, bootstrapToken: undefined })
    t.teardown(() => copy.close())
    t.same((await copy.queries.list({ limit: 500 })).items, (await api.service.storage.queries.list({ limit: 500 })).items)
    t.same(await copy.store.events.readStream('CLI-3'), await api.service.storage.store.events.readStream('CLI-3'), 'events identical, metadata and times included')

    // An impossible history is refused, and nothing of it is kept.
    const bad = join(tempDir(t), 'bad.ndjson')
    writeFileSync(bad, `${JSON.stringify({ position: 1, streamId: 'B', version: 1, type: 'ShipmentShipped', data: { truckId: 'T' }, metadata: {}, recordedAt: '2026-11-27T10:00:00Z' })}\n`)
    const badEnv = { ...env, WAYBILL_DATA_DIR: tempDir(t) }
    await waybill(['init'], badEnv)
    const refused = await waybill(['events', 'import', bad], badEnv)
    t.equal(refused.code, 2)
    t.match(refused.stderr, /line 1: ShipmentShipped is not a valid transition/)
  })

  t.test('backup while commands are flowing: the copy passes integrity_check and verify', async (t) => {
    let answered = 0
    const flowing = Promise.all(
      Array.from({ length: 8 }, (_, i) => runScanner({ base: () => api.service.url!, shipmentId: `BK-${i}`, commands: 60, history, random, onAnswered: () => void answered++ })),
    )
    await eventually(() => (answered >= 16 ? true : undefined), 60_000, 'commands to flow')
    const file = join(tempDir(t), 'backup.db')
    const before = answered
    const res = await waybill(['backup', file], env)
    const during = answered - before
    await flowing
    t.ok(during > 0, `${during} commands were answered while the backup ran`)
    t.equal(res.code, 0, res.stderr)
    const report = JSON.parse(res.stdout)
    t.match(report, { file, integrity: 'ok', verify: { problems: [] } })
    t.ok(report.bytes > 0 && report.verify.events > 0)
    const copy = await openStorage({ databaseFile: file, databaseUrl: undefined, busyTimeoutMs: 1000, bootstrapToken: undefined })
    t.teardown(() => copy.close())
    t.equal(sqliteDb(copy).pragma('integrity_check', { simple: true }), 'ok', 'the backup opens and is intact')
  })

  t.test('projections rebuild and doctor', async (t) => {
    const rebuilt = await waybill(['projections', 'rebuild'], env)
    t.equal(rebuilt.code, 0, rebuilt.stderr)
    t.match(JSON.parse(rebuilt.stdout), { rebuilt: ['shipments', 'trucks', 'review'] })
    t.match(rebuilt.stderr, /events applied: \d+/, 'plain progress lines when stderr is not a terminal')
    t.equal(rebuilt.stderr.split('\n').filter((l) => l.startsWith('events applied')).length, 1, 'a quick rebuild prints its progress once')
    const checks = await waybill(['doctor', '--json'], env)
    t.equal(checks.code, 0, checks.stdout)
    t.match(JSON.parse(checks.stdout), [{ name: 'config', status: 'ok' }, { name: 'node', status: 'ok' }, { name: 'disk' }, { name: 'sqlite', status: 'ok' }, { name: 'read models', status: 'ok' }, { name: 'redis', status: 'ok' }])
    const noDir = await waybill(['doctor', '--json'], { ...env, WAYBILL_DATA_DIR: join(tempDir(t), 'absent') })
    t.equal(noDir.code, 1, 'a SQLite installation without its data directory fails')
    t.match(JSON.parse(noDir.stdout).find((c: { name: string }) => c.name === 'disk'), { status: 'fail', detail: /does not exist \(npm start creates it\)/ })
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
