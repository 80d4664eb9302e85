import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, matchesGlob, relative } from 'node:path'
import t from 'tap'
import { packageRoot, packageVersion } from '../src/package-info.js'

t.test('the installation root and version are found from the module', async (t) => {
  const manifest = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { name: string; version: string }
  t.equal(manifest.name, 'waybill')
  t.equal(packageVersion, manifest.version)
  t.ok(existsSync(join(packageRoot, 'src', 'viz', 'assets', 'index.html')), 'the process map assets are where the page expects them')
})

// Node LTS lines: 20.19+ (require(esm), which cookie@2 and content-disposition@3 need there), 22.12+ and 24.
t.test('engines names the supported Node lines, and this Node is one of them', async (t) => {
  const { default: semver } = await import('semver')
  const { supportedNode } = await import('../src/package-info.js')
  for (const v of ['20.19.0', '20.20.2', '22.12.0', '22.20.0', '24.0.0', '24.22.3']) t.ok(semver.satisfies(v, supportedNode), `${v} is supported`)
  for (const v of ['18.20.0', '20.18.3', '21.7.0', '22.11.0', '23.5.0', '25.0.0']) t.notOk(semver.satisfies(v, supportedNode), `${v} is not`)
  t.ok(semver.satisfies(process.versions.node, supportedNode), `the running Node ${process.versions.node} is supported`)
  const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8')
  t.match(readme, /Node\.js 20\.19\+, 22\.12\+ or 24/, 'the README says the same')
})

// `npm test` runs every test file; `test:unit` the ones that need neither a build nor a browser,
// `test:integration` the rest. Together they are the whole suite, each file in exactly one of them,
// and a file that runs the built CLI (dist/) is never in `test:unit`, which does not build.
t.test('test:unit and test:integration partition the test files', async (t) => {
  const { scripts } = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  t.equal(scripts.test, 'tap', 'npm test runs every file')
  t.match(scripts.pretest, /npm run build/, 'after a build')
  t.notMatch(scripts['pretest:unit'] ?? '', /npm run build/, 'test:unit does not build (so it must not need dist/)')
  t.match(scripts['pretest:integration'], /npm run build/)
  const excludes = [...scripts['test:unit']!.matchAll(/--exclude=(?:'([^']+)'|(\S+))/g)].map((m) => m[1] ?? m[2]!)
  const integration = scripts['test:integration']!.split(/\s+/).slice(1).filter((arg) => !arg.startsWith('-'))
  t.ok(excludes.length > 0 && integration.length > 0, 'both scripts name their files')

  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : []))
  const files = walk(join(packageRoot, 'test')).map((file) => relative(packageRoot, file))
  t.ok(files.length > 50, `${files.length} test files`)
  const inUnit = (file: string) => !excludes.some((glob) => matchesGlob(file, glob))
  const inIntegration = (file: string) => integration.some((arg) => file === arg || file.startsWith(`${arg}/`))
  t.same(files.filter((f) => inUnit(f) && inIntegration(f)), [], 'no file in both')
  t.same(files.filter((f) => !inUnit(f) && !inIntegration(f)), [], 'no file in neither')
  for (const arg of integration) t.ok(files.some((f) => f === arg || f.startsWith(`${arg}/`)), `${arg} names test files`)

  // What needs the build: the CLI run as a process (cliPath, spawnWaybill, runWaybill, a cluster of
  // real processes, the installed wrapper) — and a real browser.
  const needsBuild = /\b(cliPath|spawnWaybill|runWaybill|startCluster)\b|deploy\('waybill'\)|playwright-core/
  const self = 'test/package-info.test.ts' // names them, to look for them
  const builtInUnit = files.filter((f) => f !== self && inUnit(f) && needsBuild.test(readFileSync(join(packageRoot, f), 'utf8')))
  t.same(builtInUnit, [], 'no test:unit file runs the built CLI or a browser')
})

// npm start's node options: the systemd units and the benchmark take them from here (deploy/install.test.ts).
t.test("the node options of npm start are read from its script", async (t) => {
  const { nodeOptionsOf, serviceNodeOptions } = await import('../src/package-info.js')
  t.same(nodeOptionsOf('node --a --b=1 dist/src/cli.js serve --c'), ['--a', '--b=1'], 'the options before the script only')
  t.same(nodeOptionsOf('node dist/src/cli.js serve'), [])
  t.same(nodeOptionsOf('npm run x --y'), [], 'not a node command: none')
  t.same(serviceNodeOptions, ['--max-semi-space-size=64'], 'semi-spaces of 64 MiB (README Performance)')
})
