import t from 'tap'
import { FirstUse, validatorCompiler } from '../../src/commands/validation.js'

type Check = ((data: unknown) => boolean) & { errors?: Array<{ message?: string }> | null }

t.test('a route validator is compiled on its first request, not when the route is registered', async (t) => {
  const schemas = new FirstUse()
  const compiler = validatorCompiler(schemas)
  const route = { method: 'POST', url: '/x', httpPart: 'body' }
  const validate = compiler({ ...route, schema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'], additionalProperties: false } }) as unknown as Check
  t.equal(validate({}), false)
  t.match(validate.errors, [{ message: "must have required property 'n'" }], 'the errors of the failed check, where Fastify reads them')
  t.equal(validate({ n: 1 }), true)
  t.equal(validate({ n: '1' }), false, 'a body is not coerced')
  const query = compiler({ ...route, httpPart: 'querystring', schema: { type: 'object', properties: { n: { type: 'integer' } } } }) as unknown as Check
  const value = { n: '7' }
  t.equal(query(value), true)
  t.same(value, { n: 7 }, 'a query string is coerced')
  t.equal(schemas.compileAll(), 2, 'every validator made is recorded')

  // A schema Ajv cannot compile: registering it does not fail; its first use fails as the server's fault, and so does compileAll.
  const broken = compiler({ ...route, schema: { type: 'no-such-type' } }) as unknown as Check
  t.throws(() => broken({}), { code: 'FST_ERR_SCH_VALIDATION_BUILD', statusCode: 500 }, 'compiled when first called, a 500 (not the client’s 400)')
  t.throws(() => schemas.compileAll(), { code: 'FST_ERR_SCH_VALIDATION_BUILD' }, 'compileAll finds it')
})
