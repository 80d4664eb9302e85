import t from 'tap'
import { validatorCompiler } from '../../src/commands/validation.js'

t.test('a route validator is compiled on its first request, not when the route is registered', async (t) => {
  const compiler = validatorCompiler()
  const route = { method: 'POST', url: '/x', httpPart: 'body' }
  // A schema Ajv cannot compile: registering it does not fail, its first use does.
  const broken = compiler({ ...route, schema: { type: 'no-such-type' } }) as unknown as (data: unknown) => boolean
  t.throws(() => broken({}), /type/, 'compiled when first called')
  const validate = compiler({ ...route, schema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'], additionalProperties: false } }) as unknown as ((data: unknown) => boolean) & { errors?: Array<{ message?: string }> | null }
  t.equal(validate({}), false)
  t.match(validate.errors, [{ message: "must have required property 'n'" }], 'the errors of the failed check, where Fastify reads them')
  t.equal(validate({ n: 1 }), true)
  t.equal(validate({ n: '1' }), false, 'a body is not coerced')
  const query = compiler({ ...route, httpPart: 'querystring', schema: { type: 'object', properties: { n: { type: 'integer' } } } }) as unknown as (data: unknown) => boolean
  const value = { n: '7' }
  t.equal(query(value), true)
  t.same(value, { n: 7 }, 'a query string is coerced')
})
