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
