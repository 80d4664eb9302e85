import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { problemTypes } from '../../src/http/problems.js'
import { reasonCodes } from '../../src/http/schemas.js'
import { startTestService } from '../helpers/service.js'

// docs/api.md is the contract in words; the service is the contract in code. Keep them one.
const api = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8')

t.test('every route the service has is described in docs/api.md', async (t) => {
  const service = await startTestService(t)
  const doc = (await service.request('GET', '/openapi.json', undefined, { authorization: '' })).body
  const routes = Object.entries(doc.paths as Record<string, object>).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`))
  t.ok(routes.length > 20, 'the routes are read from the running service')
  for (const route of [...routes, 'GET /openapi.json']) t.ok(api.includes(`\`${route}`), `${route} is in docs/api.md`)
})

t.test('every rejection reason and problem type is described', async (t) => {
  for (const reason of reasonCodes) t.ok(api.includes(`| \`${reason}\` |`), `reason ${reason}`)
  for (const [code, { status }] of Object.entries(problemTypes)) {
    t.ok(api.includes(`| \`/problems/${code}\` | ${status} |`), `problem type ${code} (${status})`)
  }
})

t.test('the docs are the repository\'s own', async (t) => {
  for (const file of ['README.md', 'docs/api.md', 'docs/design.md', 'docs/invariants.md', 'docs/scanner-apps.md']) {
    const text = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8')
    t.notMatch(text, /\.\.\/shared|shared\/(API|DESIGN|STYLE)\.md/, `${file} points to nothing outside the repository`)
  }
})

t.test('no file of the repository cites documents a clone does not have', async (t) => {
  // The contract, the invariants and the design are docs/api.md, docs/invariants.md, docs/design.md;
  // a comment citing "API.md" or "DESIGN.md" (upper case: the names of documents outside the
  // repository) or a path out of it sends a reader nowhere.
  const root = fileURLToPath(new URL('../../', import.meta.url))
  const outside = /\.\.\/shared\b|\b(API|DESIGN|STYLE)\.md\b/
  const files = [join(root, 'README.md'), ...['src', 'machines', 'test', 'docs', 'deploy'].flatMap((dir) => walk(join(root, dir)))]
  t.ok(files.length > 100, `${files.length} files read`)
  const self = fileURLToPath(import.meta.url) // names them, to look for them
  const citing = files.filter((file) => file !== self && outside.test(readFileSync(file, 'utf8'))).map((file) => relative(root, file))
  t.same(citing, [], 'none cites API.md, DESIGN.md, STYLE.md or ../shared')
})

/** Every text file under `dir` (absolute paths), skipping binaries and generated files. */
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return walk(path)
    return /\.(ts|js|md|json|css|html|service|sh|conf|txt)$/.test(entry.name) || !entry.name.includes('.') ? [path] : []
  })
}
