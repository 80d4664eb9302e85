import { readFileSync } from 'node:fs'
import t from 'tap'
import { configReference } from '../../src/config.js'

// The README is the front door: keep its configuration table true to the config schema.
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

t.test('every setting is documented in the README with its default', async (t) => {
  for (const { variable, default: value } of configReference()) {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`${variable}\` |`))
    t.ok(row, `${variable} has a row`)
    t.match(row ?? '', value === 'unset' ? /\| unset \|/ : `\`${value}\``, `${variable} shows its default ${value}`)
  }
})

t.test('the quick start shows the two commands', async (t) => {
  t.match(readme, /npm start/)
  t.match(readme, /npm test/)
})

t.test('.env.example lists every setting with its default', async (t) => {
  const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8')
  for (const { variable, default: value } of configReference()) {
    t.ok(example.split('\n').includes(value === 'unset' ? `# ${variable}=` : `# ${variable}=${value}`), variable)
  }
})

t.test('every folder or file of the repository the README names exists', async (t) => {
  const { existsSync } = await import('node:fs')
  const named = [...new Set([...readme.matchAll(/`((?:src|machines|test|docs|deploy)\/[A-Za-z0-9_./-]*)`/g)].map((m) => m[1]!))]
  t.ok(named.length > 10, `${named.length} paths named`)
  t.same(named.filter((path) => !existsSync(new URL(`../../${path}`, import.meta.url))), [], 'none is missing')
})

t.test('every source or document path named in the docs and the code exists', async (t) => {
  const { existsSync, readdirSync, readFileSync } = await import('node:fs')
  const root = new URL('../../', import.meta.url)
  const walk = (dir: string): string[] =>
    readdirSync(new URL(dir, root), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(`${dir}${e.name}/`) : /\.(ts|md)$/.test(e.name) ? [`${dir}${e.name}`] : []))
  const files = ['README.md', ...walk('docs/'), ...walk('src/'), ...walk('machines/')]
  const missing = files.flatMap((file) =>
    [...readFileSync(new URL(file, root), 'utf8').matchAll(/\b((?:src|machines|test|docs)\/[A-Za-z0-9_/.-]+\.(?:ts|md))\b/g)]
      .map((m) => m[1]!)
      .filter((path) => !existsSync(new URL(path, root)))
      .map((path) => `${file}: ${path}`),
  )
  t.same(missing, [], `no dangling path in ${files.length} files`)
})
