import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import createError from '@fastify/error'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { isDatabaseUnavailable } from '../store/sql.js'

/**
 * RFC 9457 problem details, decided in one place. Every error leaving the service is one of these
 * types; `type` is a relative URI (`/problems/<code>`) that the service itself documents. 5xx bodies
 * never carry internals: the error is logged with the request id instead.
 */
export const problemTypes = {
  'invalid-request': { status: 400, title: 'The request does not match the API schema' },
  'malformed-request': { status: 400, title: 'The request is not well-formed HTTP/1.1' },
  'malformed-json': { status: 400, title: 'The body is not valid JSON' },
  unauthorized: { status: 401, title: 'A valid bearer token is required' },
  'token-revoked': { status: 401, title: 'The bearer token was revoked' },
  forbidden: { status: 403, title: "The token's role may not do this" },
  'not-found': { status: 404, title: 'No such resource' },
  'shipment-not-found': { status: 404, title: 'The shipment is not registered' },
  'truck-not-found': { status: 404, title: 'The truck was not opened' },
  'not-acceptable': { status: 406, title: 'The route cannot answer in a format the client accepts' },
  'request-timeout': { status: 408, title: 'The request was not received in time' },
  'invalid-transition': { status: 409, title: "The shipment's state does not allow this command" },
  'already-registered': { status: 409, title: 'The shipment is already registered' },
  'same-truck': { status: 409, title: 'The shipment is already assigned to this truck' },
  'truck-full': { status: 409, title: 'The truck has no place left' },
  'truck-departed': { status: 409, title: 'The truck has departed' },
  'awaiting-departure': { status: 409, title: 'The shipment is on an opened truck: it ships when the truck departs' },
  'truck-already-open': { status: 409, title: 'The truck is already open' },
  'feed-reset': { status: 409, title: "The resume point is not in this installation's event feed (restored or replaced database)" },
  'command-discarded': { status: 409, title: 'An administrator discarded this command after it kept failing' },
  'body-too-large': { status: 413, title: 'The body is larger than the route takes' },
  'unsupported-media-type': { status: 415, title: 'The body must be application/json' },
  'idempotency-key-reused': { status: 422, title: 'The Idempotency-Key was already used for another request' },
  'uri-too-long': { status: 414, title: 'A path segment is longer than the server reads' },
  'rate-limited': { status: 429, title: 'Too many requests from this device' },
  'headers-too-large': { status: 431, title: 'The request headers are too large' },
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
export const TokenRevoked = createError<[string]>('WB_TOKEN_REVOKED', '%s', 401)
export const Forbidden = createError<[string]>('WB_FORBIDDEN', '%s', 403)
export const RateLimited = createError<[string]>('WB_RATE_LIMITED', '%s', 429)
/** Text that is not well-formed Unicode (a lone surrogate, invalid UTF-8) or holds NUL. */
export const InvalidText = createError<[string]>('WB_INVALID_TEXT', '%s', 400)

const codeOfError: Record<string, ProblemCode> = {
  WB_UNAUTHORIZED: 'unauthorized',
  WB_TOKEN_REVOKED: 'token-revoked',
  WB_FORBIDDEN: 'forbidden',
  WB_RATE_LIMITED: 'rate-limited',
  WB_INVALID_TEXT: 'invalid-request',
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

/**
 * Errors of Node's HTTP parser (the socket's `clientError`): bad framing such as both Content-Length
 * and Transfer-Encoding (a smuggling attempt), invalid header characters, a request not received
 * within the request timeout (408), headers over Node's limit (431). No request object exists, so the
 * answer is written on the socket, which is then closed: the rest of its bytes cannot be trusted.
 * Like Node's own handler, nothing is written into a response already under way on that socket.
 */
export function clientErrorHandler(this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const code: ProblemCode =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request-timeout' : error.code === 'HPE_HEADER_OVERFLOW' ? 'headers-too-large' : 'malformed-request'
  this.log.debug({ err: error, code: error.code }, 'client error')
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage
  if (socket.writable && !inFlight?.headersSent) {
    const detail =
      code === 'request-timeout'
        ? 'the whole request must arrive within the request timeout'
        : code === 'headers-too-large'
          ? 'send fewer or shorter headers'
          : `the HTTP parser refused the request (${error.code ?? 'parse error'})`
    const body = JSON.stringify(problem(code, detail))
    const status = problemTypes[code].status
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    )
  }
  socket.destroy(error)
}

/** Errors Fastify meets before routing (an undecodable URL, an over-long path parameter). */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') return sendProblem(reply, problem('uri-too-long', 'a path segment is longer than 100 characters'))
  if (error.code === 'FST_ERR_BAD_URL') return sendProblem(reply, problem('invalid-request', 'the path is not a valid URL (bad percent-encoding)'))
  return handleError(error, request, reply)
}
