import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'

// Issue 9, item 10: WAYBILL_BOOTSTRAP_TOKEN follows the bearer-token grammar (`Authorization: Bearer
// <1–512 visible ASCII>`, src/http/auth.ts) at start-up: a token that could never be presented is a
// configuration error naming the variable, not a service nobody can log in to.
t.test('a bootstrap token outside the bearer grammar stops start-up, naming the variable', async (t) => {
  const bad: Array<[string, string]> = [
    ['a space inside', 'change me 0123456789'],
    ['a leading space', ' change-me-0123456789'],
    ['a trailing space', 'change-me-0123456789 '],
    ['a tab', 'change-me\t0123456789'],
    ['non-ASCII', 'change-me-0123456789-é'],
    ['an emoji', 'change-me-0123456789-😀'],
    ['a newline', 'change-me-0123456789\nx'],
    ['over 512 characters', 'x'.repeat(513)],
    ['under 16 characters', 'short'],
  ]
  for (const [name, token] of bad) {
    let error: unknown
    try {
      loadConfig({ WAYBILL_BOOTSTRAP_TOKEN: token })
    } catch (caught) {
      error = caught
    }
    t.ok(error instanceof ConfigError, `${name}: a configuration error`)
    t.match((error as Error | undefined)?.message ?? '', /WAYBILL_BOOTSTRAP_TOKEN/, `${name}: names the variable`)
    t.notMatch((error as Error | undefined)?.message ?? '', token.trim() || 'never', `${name}: does not print the secret`)
  }
})

t.test('a bootstrap token inside the grammar is taken as it is', async (t) => {
  for (const token of ['change-me-0123456789', 'x'.repeat(512), '!#$%&\'*+-.^_`|~0123456789<>"{}']) {
    t.equal(loadConfig({ WAYBILL_BOOTSTRAP_TOKEN: token }).bootstrapToken, token)
  }
  t.equal(loadConfig({}).bootstrapToken, undefined, 'unset stays unset')
})
