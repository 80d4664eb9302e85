import { Ajv, type Options, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { FastifySchemaCompiler } from 'fastify'
import type { Static, TSchema } from 'typebox'

/**
 * Ajv as Fastify's validator, with the defaults that hide errors turned off: unknown properties are
 * reported (not stripped: `removeAdditional: false`), bodies are never coerced (a number is not a
 * truck id), and only the query string, params and headers coerce strings to numbers.
 */
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

/** RFC 3339 date-time with a time zone (T or a space between date and time, as ajv-formats allows): year, month, day, second captured. */
const rfc3339 = /^(\d{4})-(\d\d)-(\d\d)[t\s](?:[01]\d|2[0-3]):[0-5]\d:(\d\d)(?:\.\d+)?(?:z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)$/i

/**
 * A timestamp must name one real instant: RFC 3339 with a time zone, a day that exists in its month,
 * an hour of 0–23 and a second of 0–59. Second 60 (a leap second) is refused: the service counts time
 * in POSIX milliseconds, where no leap second exists (`Date.parse` gives NaN for it), so it could be
 * neither compared, stored nor shown. Replaces ajv-formats' `date-time` for everything the service
 * reads (bodies and query strings), so the OpenAPI document still says `format: date-time`.
 */
export function isInstant(value: string): boolean {
  const match = rfc3339.exec(value)
  if (!match) return false
  const [year, month, day, second] = match.slice(1, 5).map(Number) as [number, number, number, number]
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
  if (month < 1 || month > 12 || day < 1 || day > days[month - 1]! || second > 59) return false
  return Number.isFinite(Date.parse(value))
}

/** A lone UTF-16 surrogate (not half of a pair) or NUL. */
const notText = /[\p{Cs}\u0000]/u

/**
 * Text the service takes in must be well-formed Unicode without NUL: a lone surrogate cannot be
 * encoded as UTF-8 (SQLite would store U+FFFD while the log keeps the escape, and the two would never
 * agree again), and NUL ends strings in C tools that read the database.
 */
export function isCleanText(value: string): boolean {
  return !notText.test(value)
}

/** The path (`/a/0/b`) of the first string, key or value, in `value` that is not clean text; null if none. */
export function findUncleanText(value: unknown, path = ''): string | null {
  if (typeof value === 'string') return isCleanText(value) ? null : path || '/'
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUncleanText(value[i], `${path}/${i}`)
      if (found !== null) return found
    }
    return null
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (!isCleanText(key)) return `${path}/${key.replace(notText, '?')}`
      const found = findUncleanText(item, `${path}/${key}`)
      if (found !== null) return found
    }
  }
  return null
}

function ajv(options: Options): Ajv {
  const instance = addFormats(new Ajv({ removeAdditional: false, useDefaults: true, allErrors: false, strict: false, discriminator: true, ...options }))
  return instance.addFormat('date-time', { type: 'string', validate: isInstant })
}

/**
 * Schemas compiled on first use rather than at start-up: a `serve` has a validator for every part of
 * every route and a serializer for every status, and compiling them all made its start-up CPU 1.5×
 * as long (1.37 s against 0.89 s), while a worker or a short-lived process uses a handful. Every one
 * made is recorded so that a test compiles them all (`compileAll`): a schema that cannot compile
 * must fail a test, not a scanner's request.
 */
export class FirstUse {
  readonly #made: Array<() => unknown> = []

  /** A getter of what `compile` makes, which runs it once, when first called. */
  defer<T>(compile: () => T): () => T {
    let made: T | undefined
    const get = () => (made ??= compile())
    this.#made.push(get)
    return get
  }

  /** Compiles every schema deferred so far; how many. */
  compileAll(): number {
    for (const get of this.#made) get()
    return this.#made.length
  }
}

/** Fastify's validator for every route, each compiled on its route's first request (see FirstUse). */
export function validatorCompiler(schemas: FirstUse): FastifySchemaCompiler<unknown> {
  const strict = ajv({ coerceTypes: false })
  const coercing = ajv({ coerceTypes: true })
  return ({ schema, httpPart }) =>
    onFirstUse(
      schemas.defer(() => {
        try {
          return (httpPart === 'body' ? strict : coercing).compile(schema as object)
        } catch (error) {
          // Fastify's code for a schema that does not compile: the server's fault (500, logged), not the client's 400.
          throw Object.assign(error as Error, { code: 'FST_ERR_SCH_VALIDATION_BUILD', statusCode: 500 })
        }
      }),
    ) as never
}

/**
 * An Ajv validate function compiled when first called. Fastify reads `errors` off the function after
 * a failed check, and passes the parent (`schemaEnv` set, as on Ajv's own) so a coerced root value lands.
 */
function onFirstUse(compiled: () => ValidateFunction) {
  const lazy = Object.assign(
    (data: unknown, context?: Parameters<ValidateFunction>[1]) => {
      const validate = compiled()
      const valid = validate(data, context)
      lazy.errors = validate.errors
      return valid
    },
    { schemaEnv: true as const, errors: null as ValidateFunction['errors'] },
  )
  return lazy
}

const strictAjv = ajv({ coerceTypes: false })

/**
 * A check of a value against a TypeBox schema with the same Ajv settings as request bodies (no
 * coercion, unknown properties refused), for values that enter from storage rather than HTTP.
 */
export function schemaCheck<S extends TSchema>(schema: S): { check(value: unknown): value is Static<S>; errors(name?: string): string } {
  const validate = strictAjv.compile(schema as object)
  return {
    check: (value): value is Static<S> => validate(value) === true,
    /** The last check's errors, the value called `name`. */
    errors: (name = 'payload') => strictAjv.errorsText(validate.errors, { dataVar: name }),
  }
}
