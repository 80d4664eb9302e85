import { execFile } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { nodeOptionsOf, packageRoot, serviceNodeOptions } from '../../src/package-info.js'
import { findExecutable } from '../../src/queue/embedded-redis.js'
import { tempDir } from '../helpers/service.js'

// What of the Debian install can run here: the units (systemd-analyze, when installed), the
// /usr/local/bin/waybill wrapper (env file loaded, data directory, a missing database refused) with
// its paths pointed at this checkout, and the README's install commands naming files that exist.

const exec = promisify(execFile)
const run = async (file: string, args: string[], env: Record<string, string> = {}, cwd?: string) => {
  try {
    const { stdout, stderr } = await exec(file, args, { env: { ...process.env, ...env }, cwd })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}
const deploy = (name: string) => join(packageRoot, 'deploy', name)
const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8')

t.test('the systemd units', async (t) => {
  for (const unit of ['waybill.service', 'waybill-worker@.service']) {
    const text = readFileSync(deploy(unit), 'utf8')
    for (const line of ['StateDirectory=waybill', 'Environment=NODE_ENV=production WAYBILL_DATA_DIR=/var/lib/waybill', 'RestartPreventExitStatus=2', 'UMask=0027', 'NoNewPrivileges=true']) {
      t.ok(text.split('\n').includes(line), `${unit}: ${line}`)
    }
    const exec = /^ExecStart=\/usr\/bin\/(node(?: --\S+)*) \/opt\/waybill\/dist\/src\/cli\.js (serve|worker)$/m.exec(text)
    t.ok(exec, `${unit}: node itself, not npm (which would not pass SIGTERM on)`)
    t.same(nodeOptionsOf(exec?.[1] ?? ''), serviceNodeOptions, `${unit}: node's options are npm start's`)
    const analyze = findExecutable('systemd-analyze')
    if (!analyze) {
      t.comment('systemd-analyze is not installed: the exposure score is not checked here')
      continue
    }
    const security = await run(analyze, ['security', '--offline=yes', deploy(unit)])
    const score = Number(/Overall exposure level for .*: ([\d.]+)/.exec(security.stdout + security.stderr)?.[1])
    t.ok(score <= 2, `${unit}: systemd-analyze security exposure ${score} (≤ 2.0)`)
  }
})

t.test("the waybill wrapper starts node with npm start's options", async (t) => {
  const lines = readFileSync(deploy('waybill'), 'utf8').split('\n').filter((line) => line.includes('/dist/src/cli.js'))
  t.equal(lines.length, 2, 'as the service user, and through runuser')
  for (const line of lines) t.same(nodeOptionsOf(/(node(?: --\S+)*) "\$app\/dist\/src\/cli\.js"/.exec(line)?.[1] ?? ''), serviceNodeOptions, line.trim())
})

t.test('the waybill wrapper loads the env file and refuses a missing database', async (t) => {
  const dir = tempDir(t)
  const envFile = join(dir, 'waybill.env')
  const dataDir = join(dir, 'var-lib-waybill')
  writeFileSync(envFile, `# like deploy/waybill.env\nWAYBILL_DATA_DIR=${dataDir}\nWAYBILL_LOG_LEVEL=silent\n`)
  const user = (await run('id', ['-un'])).stdout.trim()
  const env = { WAYBILL_ENV_FILE: envFile, WAYBILL_APP: packageRoot, WAYBILL_USER: user }
  const waybill = (...args: string[]) => run(deploy('waybill'), args, env, dir)

  const missing = await waybill('tokens', 'create', '--device', 'it-desk', '--role', 'admin')
  t.equal(missing.code, 2, 'no database yet: refused')
  t.match(missing.stderr, new RegExp(`no database at ${dataDir}/waybill.db`), 'at the data directory from the env file')
  t.notOk(existsSync(join(dataDir, 'waybill.db')), 'and none was created')
  t.equal((await waybill('init')).code, 0)
  const created = await waybill('tokens', 'create', '--device', 'it-desk', '--role', 'admin')
  t.equal(created.code, 0, created.stderr)
  t.match(JSON.parse(created.stdout), { token: /^wb_/, deviceId: 'it-desk', role: 'admin' })
  const backup = await waybill('backup', join(dir, 'no-such-dir', 'copy.db'))
  t.equal(backup.code, 2, 'a backup into a directory that is not there: exit 2')
  t.match(backup.stderr, /^waybill: cannot write .*copy\.db: .*writable by the user running the backup\)$/m, 'in one line')
  t.notMatch(backup.stderr, /^\s+at /m, 'no stack trace')
  const unreadable = await run(deploy('waybill'), ['doctor'], { ...env, WAYBILL_ENV_FILE: dir }, dir)
  t.not(unreadable.code, 0, 'an env file that cannot be read is an error')
})

t.test("the README's Debian install names files that exist and no conflicting package", async (t) => {
  const install = readme.slice(readme.indexOf('### Install on a fresh Debian machine'), readme.indexOf('### First setup'))
  for (const [, file] of install.matchAll(/\b(deploy\/[\w@.-]+)/g)) t.ok(existsSync(join(packageRoot, file!)), `${file} exists`)
  t.notMatch(install, /apt-get install(?:(?!#)[^\n])*\bnpm\b/, "Debian's npm is not installed beside NodeSource's nodejs")
  t.match(install, /setup_2[24]\.x/, 'Node.js from NodeSource (Debian 12 has 18)')
  t.match(install, /install -m 0640 -o root -g waybill deploy\/waybill\.env \/etc\/waybill\/waybill\.env/, 'the env file is installed 0640')
  t.notMatch(readme, /WAYBILL_BOOTSTRAP_TOKEN=[\w-]{16,}/, 'no usable bootstrap token literal anywhere')
})
