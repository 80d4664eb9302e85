import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { packageRoot, packageVersion } from '../src/package-info.js'

t.test('the installation root and version are found from the module', async (t) => {
  const manifest = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { name: string; version: string }
  t.equal(manifest.name, 'waybill')
  t.equal(packageVersion, manifest.version)
  t.ok(existsSync(join(packageRoot, 'src', 'viz', 'assets', 'index.html')), 'the process map assets are where the page expects them')
})
