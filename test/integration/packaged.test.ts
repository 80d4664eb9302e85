import { execFile } from 'node:child_process'
import { cpSync, mkdirSync, symlinkSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { spawnWaybill, untilHealthy } from '../helpers/process.js'
import { freePort, startRedis } from '../helpers/redis.js'
import { bootstrapToken, tempDir } from '../helpers/service.js'

const exec = promisify(execFile)
const root = fileURLToPath(new URL('../../', import.meta.url))

/**
 * What a deployment gets: exactly the files `npm pack` would ship (package.json `files`), copied to
 * a directory of their own with only node_modules beside them (no src/, no test/). The service must
 * start from that copy and serve the process map with its page assets.
 */
t.test('the packed files alone run the service and the process map', async (t) => {
  const { stdout } = await exec('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, maxBuffer: 16 * 2 ** 20 })
  const files = (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path)
  t.ok(files.includes('dist/src/cli.js'), 'the compiled CLI is packed')
  t.notOk(files.some((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('dist/test/')), 'no sources or tests are packed')
  t.ok(files.includes('dist/src/viz/assets/index.html'), 'the viz assets are built into dist/')

  const copy = tempDir(t, 'waybill-packed-')
  for (const file of files) {
    mkdirSync(dirname(join(copy, file)), { recursive: true })
    cpSync(join(root, file), join(copy, file))
  }
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir')

  const redis = await startRedis(t)
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const child = spawnWaybill(
    t,
    ['serve'],
    { REDIS_URL: redis.url, WAYBILL_DATA_DIR: tempDir(t), PORT: String(port), WAYBILL_BOOTSTRAP_TOKEN: bootstrapToken, WAYBILL_EMBEDDED_REDIS: 'never' },
    join(copy, 'dist', 'src', 'cli.js'),
  )
  await untilHealthy(base, child)
  const page = await fetch(`${base}/viz`)
  t.equal(page.status, 200)
  const html = await page.text()
  for (const asset of html.matchAll(/(?:src|href)="(\/viz\/assets\/[^"]+)"/g)) {
    const res = await fetch(`${base}${asset[1]}`)
    t.equal(res.status, 200, `${asset[1]} is served from the copy`)
  }
  const layout = await fetch(`${base}/viz/layout.json`, { headers: { authorization: `Bearer ${bootstrapToken}` } })
  t.equal(layout.status, 200, 'the chart is laid out')
  await child.stop()
})
