import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { tempDir } from '../helpers/service.js'

// Issue 15, item 9: the page's script is type-checked (`// @ts-check`, strict, with the DOM's types),
// against the route schemas' static types (src/http/schemas.ts): a view reading a field the API does
// not answer fails here, not in a reviewer's browser.
const exec = promisify(execFile)
const tsc = fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url))
const project = fileURLToPath(new URL('../../src/viz/tsconfig.assets.json', import.meta.url))
const schemas = fileURLToPath(new URL('../../src/http/schemas.js', import.meta.url))
const check = (config: string) =>
  exec(process.execPath, [tsc, '-p', config, '--pretty', 'false']).then(
    () => ({ code: 0, stdout: '' }),
    (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
  )

t.test('the page’s script type-checks against the API’s schemas', async (t) => {
  const result = await check(project)
  t.equal(result.code, 0, result.stdout)
})

t.test('…and the check is not a formality: a field the API does not answer is an error', async (t) => {
  const dir = tempDir(t)
  writeFileSync(
    join(dir, 'wrong.js'),
    `// @ts-check\n/** @param {import(${JSON.stringify(schemas)}).ReviewSummary} summary */\nexport const late = (summary) => summary.commands.lateScans + 1\n`,
  )
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ extends: project, include: ['wrong.js'] }))
  const result = await check(join(dir, 'tsconfig.json'))
  t.equal(result.code, 2)
  t.match(result.stdout, /Property 'lateScans' does not exist/)
})
