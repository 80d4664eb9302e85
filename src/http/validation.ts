import { Ajv, type Options } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { FastifySchemaCompiler } from 'fastify'

/**
 * Ajv as Fastify's validator, with the defaults that hide errors turned off: unknown properties are
 * reported (not stripped: `removeAdditional: false`), bodies are never coerced (a number is not a
 * truck id), and only the query string, params and headers coerce strings to numbers.
 */
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

function ajv(options: Options): Ajv {
  return addFormats(new Ajv({ removeAdditional: false, useDefaults: true, allErrors: false, strict: false, discriminator: true, ...options }))
}

export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = ajv({ coerceTypes: false })
  const coercing = ajv({ coerceTypes: true })
  return ({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema as object) as never
}
