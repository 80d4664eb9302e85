import createError from '@fastify/error'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { isDatabaseUnavailable } from '../store/database.js'

/**
 * RFC 9457 problem details, decided in one place. Every error leaving the service is one of these
 * types; `type` is a relative URI (`/problems/<code>`) that the service itself documents. 5xx bodies
 * never carry internals: the error is logged with the request id instead.
 */
export const problemTypes = {
  'invalid-request': { status: 400, title: 'The request does not match the API schema' },
  'malformed-json': { status: 400, title: 'The body is not valid JSON' },
  unauthorized: { status: 401, title: 'A valid bearer token is required' },
  forbidden: { status: 403, title: "The token's role may not do this" },
  'not-found': { status: 404, title: 'No such resource' },
  'shipment-not-found': { status: 404, title: 'The shipment is not registered' },
  'not-acceptable': { status: 406, title: 'The route cannot answer in a format the client accepts' },
  'invalid-transition': { status: 409, title: "The shipment's state does not allow this command" },
  'already-registered': { status: 409, title: 'The shipment is already registered' },
  'same-truck': { status: 409, title: 'The shipment is already assigned to this truck' },
  'body-too-large': { status: 413, title: 'The body is larger than 16 KiB' },
  'unsupported-media-type': { status: 415, title: 'The body must be application/json' },
  'idempotency-key-reused': { status: 422, title: 'The Idempotency-Key was already used for another request' },
  'rate-limited': { status: 429, title: 'Too many requests from this device' },
  'internal-error': { status: 500, title: 'Internal error' },
  unavailable: { status: 503, title: 'The service cannot take this request right now' },
} as const

export type ProblemCode = keyof typeof problemTypes

export interface ProblemBody {
  readonly type: string
  readonly title: string
  readonly status: number
  readonly detail?: string
  readonly instance?: string
  readonly [extension: string]: unknown
}

export function problem(code: ProblemCode, detail?: string, extensions: Record<string, unknown> = {}): ProblemBody {
  const { status, title } = problemTypes[code]
  return { type: `/problems/${code}`, title, status, ...(detail === undefined ? {} : { detail }), ...extensions }
}

export function sendProblem(reply: FastifyReply, body: ProblemBody, headers: Record<string, string> = {}): FastifyReply {
  for (const [name, value] of Object.entries(headers)) reply.header(name, value)
  return reply.code(body.status).type('application/problem+json').send(body)
}

/** Errors our own code throws at the edge, each with its problem code. */
export const Unauthorized = createError<[string]>('WB_UNAUTHORIZED', '%s', 401)
export const Forbidden = createError<[string]>('WB_FORBIDDEN', '%s', 403)
export const RateLimited = createError<[string]>('WB_RATE_LIMITED', '%s', 429)

const codeOfError: Record<string, ProblemCode> = {
  WB_UNAUTHORIZED: 'unauthorized',
  WB_FORBIDDEN: 'forbidden',
  WB_RATE_LIMITED: 'rate-limited',
  FST_ERR_CTP_INVALID_JSON_BODY: 'malformed-json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'malformed-json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body-too-large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported-media-type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid-request',
  FST_ERR_VALIDATION: 'invalid-request',
}

/** The single error handler: what leaks and with which status. */
export function handleError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error.validation) {
    const errors = error.validation.map((v) => ({
      path: `${error.validationContext ?? ''}${v.instancePath || ''}`,
      message: describeValidation(v),
    }))
    return sendProblem(reply, problem('invalid-request', errors.map((e) => `${e.path} ${e.message}`).join('; '), { errors }))
  }
  const code = (error.code ? codeOfError[error.code] : undefined) ?? (isDatabaseUnavailable(error) ? 'unavailable' : statusCode(error))
  if (code === 'internal-error' || code === 'unavailable') {
    request.log.error({ err: error }, 'request failed')
  }
  const detail =
    code === 'internal-error'
      ? `see the server log for request ${request.id}`
      : isDatabaseUnavailable(error)
        ? `the database cannot take this request right now (${error.code}); retry shortly`
        : error.message
  const headers: Record<string, string> = code === 'unavailable' ? { 'retry-after': '1' } : {}
  return sendProblem(reply, problem(code, detail), headers)
}

function describeValidation(v: { keyword: string; message?: string; params: Record<string, unknown> }): string {
  const message = v.message ?? 'is invalid'
  if (v.keyword === 'additionalProperties') return `${message}: '${String(v.params.additionalProperty)}'`
  if (v.keyword === 'enum' && Array.isArray(v.params.allowedValues)) return `${message}: ${v.params.allowedValues.join(', ')}`
  return message
}

function statusCode(error: FastifyError): ProblemCode {
  const status = error.statusCode ?? 500
  if (status === 404) return 'not-found'
  if (status === 429) return 'rate-limited'
  if (status === 503) return 'unavailable'
  if (status === 413) return 'body-too-large'
  if (status === 415) return 'unsupported-media-type'
  if (status >= 400 && status < 500) return 'invalid-request'
  return 'internal-error'
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendProblem(reply, problem('not-found', `no route ${request.method} ${request.url.split('?')[0]}`))
}
