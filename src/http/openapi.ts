import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { Problem } from './schemas.js'

/**
 * OpenAPI 3.1 generated from the route schemas (`/openapi.json`), browsable at `/docs` (Swagger UI's
 * own files, served locally: no CDN). The document says what the service does, so that a client can be
 * generated from it (test/http/openapi-client.test.ts does): every route has an operationId; the
 * schemas with a `title` are named components; every error a route can answer is declared, as
 * `application/problem+json`, including those the edge adds to every route (auth, validation, rate
 * limit, load shedding) and those of the HTTP parser and the router before any route runs (400 for a
 * request that is not well-formed HTTP, e.g. a smuggling attempt; 408; 431; 414 for an over-long path
 * parameter); response headers are declared; query parameters with a default are optional.
 * Register before the routes: the document is collected as they are added.
 */

/** operationIds by `METHOD /path` (Fastify's path syntax). A route missing here gets a derived one. */
const operationIds: Record<string, string> = {
  'POST /shipments/:shipmentId/commands': 'sendShipmentCommand',
  'GET /commands/:commandId': 'getCommand',
  'GET /shipments/:shipmentId': 'getShipment',
  'GET /shipments/:shipmentId/events': 'listShipmentEvents',
  'GET /shipments/:shipmentId/commands': 'getShipmentTimeline',
  'GET /shipments': 'listShipments',
  'GET /events': 'listEvents',
  'GET /events/stream': 'streamEvents',
  'GET /machines/shipment': 'getShipmentMachine',
  'GET /stats': 'getStats',
  'GET /viz': 'getProcessMapPage',
  'GET /viz/layout.json': 'getChartLayout',
  'GET /viz/chart.svg': 'getChartSvg',
  'GET /viz/chart.mmd': 'getChartMermaid',
  'GET /health': 'getHealth',
  'GET /ready': 'getReadiness',
  'GET /metrics': 'getMetrics',
  'POST /admin/tokens': 'createToken',
  'GET /admin/tokens': 'listTokens',
  'DELETE /admin/tokens/:tokenId': 'revokeToken',
  'GET /admin/parked': 'listParked',
  'POST /admin/parked/:shipmentId/retry': 'retryParked',
  'POST /admin/parked/:shipmentId/discard': 'discardParked',
  'GET /problems': 'listProblemTypes',
  'GET /problems/:code': 'getProblemType',
}

/** `GET /a/:b/c` → `getABC`: stable and unique for routes nobody named yet. */
export function derivedOperationId(method: string, url: string): string {
  const words = url.split('/').filter(Boolean).map((w) => w.replace(/^:/, 'by-').replace(/[^A-Za-z0-9]+/g, '-'))
  return [method.toLowerCase(), ...words.flatMap((w) => w.split('-'))]
    .filter(Boolean)
    .map((w, i) => (i === 0 ? w : w[0]!.toUpperCase() + w.slice(1)))
    .join('')
}

const problemJson = 'application/problem+json'

/** What each status means when the route does not say more. */
const statusDescriptions: Record<string, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted, not decided yet',
  304: 'Not modified (the `If-None-Match` ETag is current)',
  400: 'Malformed JSON, or the request does not match the schema (`errors` lists each violation); or not well-formed HTTP/1.1, refused by the parser before any route (`/problems/malformed-request`, e.g. both Content-Length and Transfer-Encoding: the connection is closed)',
  401: 'No valid bearer token: `/problems/unauthorized` (missing or unknown) or `/problems/token-revoked`',
  403: "The token's role may not call this route",
  404: 'No such resource',
  406: 'The client does not accept what this route answers',
  408: 'The whole request did not arrive within the request timeout (`WAYBILL_REQUEST_TIMEOUT_MS`); the connection is closed',
  409: 'Rejected by the rules',
  413: 'The body is over the size limit',
  414: 'A path parameter is longer than the router reads (100 characters)',
  415: 'The body is not `application/json`',
  422: 'The `Idempotency-Key` was used before with another body',
  429: 'Too many requests from this token, or too many failed authentications from this address',
  431: 'The request headers are too large; the connection is closed',
  500: 'Internal error (the server log has it under the request id)',
  503: 'Overloaded, or the database cannot take writes right now: retry after `Retry-After` seconds',
}

/** Route-specific response descriptions, by `METHOD /path` and status. */
const routeDescriptions: Record<string, Record<string, string>> = {
  'POST /shipments/:shipmentId/commands': {
    200: 'Accepted (any command but REGISTER): the shipment after it and the new event',
    201: 'REGISTER accepted',
    202: 'Queued: `Prefer: respond-async`, or not decided within the reply timeout. Poll `Location`',
    404: 'A command other than REGISTER for an unknown shipment (reason `not_found`)',
    409: 'Rejected by the rules: `reason`, the `shipment` as it was and what it `allowed`',
  },
  'GET /commands/:commandId': { 404: 'Unknown command (or sent by another device, for a scanner token)' },
  'GET /shipments/:shipmentId': { 404: 'Not registered, or not at that version or time' },
  'GET /ready': { 200: 'SQLite and Redis usable', 503: 'A dependency is not usable (see `checks`)' },
  'GET /events': { 409: 'The resume point `after` is not in this installation\'s feed (`/problems/feed-reset`: beyond the head, or in the gap a restore leaves): resume after `resumeAfter`' },
  'GET /events/stream': {
    409: 'The resume point (`Last-Event-ID` or `?after=`) is not in this installation\'s feed (`/problems/feed-reset`): resume after `resumeAfter`',
    200: 'The event stream (`text/event-stream`, a heartbeat comment at least every 5 s), open until the client goes, its token is revoked or the server closes',
    429: 'This token already holds `WAYBILL_MAX_STREAMS_PER_TOKEN` open streams (or a rate limit, as on every route)',
  },
}

/** Response headers, declared once under components.headers and referenced per response. */
const headers = {
  'X-Request-Id': { description: 'The request id (the client\'s own `X-Request-Id` if it was 1–128 visible ASCII characters); logged with the request', schema: { type: 'string' } },
  'Retry-After': { description: 'Seconds to wait before trying again', schema: { type: 'integer', minimum: 0 } },
  Location: { description: 'Where the result can be read: the shipment (accepted) or the command (queued)', schema: { type: 'string' } },
  'Idempotent-Replayed': { description: '`true` when this is the stored answer to an earlier request with the same `Idempotency-Key`', schema: { type: 'string', enum: ['true'] } },
  'Preference-Applied': { description: '`respond-async` when `Prefer: respond-async` was honoured', schema: { type: 'string' } },
  ETag: { description: 'Weak validator of the shipment version, `W/"<version>"`; send it back as `If-None-Match`', schema: { type: 'string' } },
} as const
type HeaderName = keyof typeof headers

function headersFor(key: string, status: number): HeaderName[] {
  const names: HeaderName[] = ['X-Request-Id']
  if (status === 429 || status === 503) names.push('Retry-After')
  if (key === 'POST /shipments/:shipmentId/commands') {
    if (status === 200 || status === 201 || status === 202) names.push('Location')
    if ([200, 201, 202, 404, 409].includes(status)) names.push('Idempotent-Replayed')
    if (status === 202) names.push('Preference-Applied')
  }
  if (key === 'GET /shipments/:shipmentId' && (status === 200 || status === 304)) names.push('ETag')
  return names
}

interface RouteInfo {
  readonly method: string
  readonly url: string
  readonly allow: 'public' | readonly string[] | undefined
  readonly hasInput: boolean
  readonly hasBody: boolean
}

/** The error statuses the edge itself can answer on a route, whatever its handler does. */
function edgeStatuses(route: RouteInfo): number[] {
  // The HTTP parser's answers (src/http/problems.ts, clientErrorHandler) come before routing, so any
  // route's request can get them: not well-formed (400), not received in time (408), headers too large
  // (431); the router's: a path parameter over its limit (414) or an undecodable path (400).
  const statuses = [500, 400, 408, 431]
  if (route.url.includes(':')) statuses.push(414)
  if (route.hasBody) statuses.push(413, 415)
  if (route.allow !== 'public') statuses.push(401, 403)
  // Load shedding and the rate limit spare only the liveness probe.
  if (route.url !== '/health') statuses.push(429, 503)
  if (route.url === '/events/stream') statuses.push(406)
  return statuses
}

/** Walks a JSON value depth-first, calling `visit` on every object (children first). */
function rewrite(value: unknown, visit: (node: Record<string, unknown>) => unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => rewrite(v, visit))
  if (value === null || typeof value !== 'object') return value
  const node: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) node[k] = rewrite(v, visit)
  return visit(node)
}

/**
 * Hoists every schema with a `title` into `components.schemas` (named by its title) and puts a `$ref`
 * in its place; discriminated unions get their `mapping`, so generators key on the discriminator value.
 */
function nameSchemas(document: Record<string, unknown>): void {
  const components = (document.components ??= {}) as Record<string, Record<string, unknown>>
  const schemas = (components.schemas ??= {}) as Record<string, unknown>
  const hoist = (node: Record<string, unknown>): unknown => {
    if (typeof node.title === 'string' && /^[A-Z][A-Za-z0-9]*$/.test(node.title) && (node.type === 'object' || node.properties)) {
      const name = node.title
      const known = schemas[name]
      if (known === undefined) schemas[name] = node
      else if (JSON.stringify(known) !== JSON.stringify(node)) return node // a different schema under the same title stays inline
      return { $ref: `#/components/schemas/${name}` }
    }
    const discriminator = node.discriminator as { propertyName: string; mapping?: Record<string, string> } | undefined
    if (discriminator && Array.isArray(node.oneOf)) {
      const mapping: Record<string, string> = {}
      for (const member of node.oneOf as Array<{ $ref?: string }>) {
        const target = member.$ref ? (schemas[member.$ref.split('/').pop()!] as { properties?: Record<string, { enum?: unknown[]; const?: unknown }> } | undefined) : undefined
        const tag = target?.properties?.[discriminator.propertyName]
        const value = tag?.const ?? tag?.enum?.[0]
        if (typeof value === 'string' && member.$ref) mapping[value] = member.$ref
      }
      node.discriminator = { ...discriminator, mapping }
    }
    return node
  }
  document.paths = rewrite(document.paths, hoist)
}

/** Problem content types, descriptions and headers on every response of every operation. */
function completeResponses(document: Record<string, unknown>, keyOf: Map<string, string>): void {
  const components = document.components as Record<string, Record<string, unknown>>
  components.headers = Object.fromEntries(Object.entries(headers).map(([name, header]) => [name, header]))
  const paths = document.paths as Record<string, Record<string, { responses?: Record<string, Record<string, unknown>> }>>
  for (const [path, operations] of Object.entries(paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const key = keyOf.get(`${method.toUpperCase()} ${path}`)
      if (!key || !operation.responses) continue
      for (const [code, response] of Object.entries(operation.responses)) {
        const status = Number(code)
        const content = response.content as Record<string, unknown> | undefined
        if (status >= 400 && content) {
          const schema = (content['application/json'] ?? Object.values(content)[0]) as unknown
          response.content = { [problemJson]: schema }
        }
        if (!response.description || response.description === 'Default Response') {
          response.description = routeDescriptions[key]?.[code] ?? statusDescriptions[code] ?? 'Response'
        }
        response.headers = {
          ...(response.headers as object | undefined),
          ...Object.fromEntries(headersFor(key, status).map((name) => [name, { $ref: `#/components/headers/${name}` }])),
        }
      }
    }
  }
}

export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  // The documentation itself is public (it holds no data); everything else keeps its declared roles.
  app.addHook('onRoute', (route) => {
    if (route.url === '/docs' || route.url.startsWith('/docs/')) route.config = { ...route.config, allow: 'public' }
  })
  // OpenAPI path (`/a/{b}`) + method → the route's key (`GET /a/:b`), filled while transforming.
  const keyOf = new Map<string, string>()
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Waybill',
        version,
        description:
          'Event-sourced shipment processor for a depot. Errors are RFC 9457 `application/problem+json`; ' +
          'their `type` is `/problems/<code>`, a page that explains the code. Command requests accept `Idempotency-Key` and `Prefer: respond-async`. ' +
          'The contract in words: docs/api.md of the repository.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a device token (`wb_…`) or the bootstrap token' } },
      },
      tags: [
        { name: 'commands', description: 'what scanners send' },
        { name: 'shipments', description: 'shipments now and as they were' },
        { name: 'events', description: 'the event log' },
        { name: 'process map', description: 'the state chart and its numbers' },
        { name: 'admin', description: 'tokens and dead letters' },
        { name: 'operations', description: 'health, readiness, metrics' },
        { name: 'problems', description: 'what each problem type means' },
      ],
    },
    transform: ({ schema, url, route }) => {
      const allow = route.config?.allow
      const roles = allow === 'public' ? 'public' : (allow ?? []).join(', ')
      const method = (Array.isArray(route.method) ? route.method[0]! : route.method).toUpperCase()
      const key = `${method} ${url}`
      keyOf.set(`${method} ${url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`, key)
      const input = schema as { params?: unknown; querystring?: { properties?: Record<string, { default?: unknown }>; required?: string[] }; body?: unknown; headers?: unknown; response?: Record<string, unknown> } | undefined
      const info: RouteInfo = { method, url, allow, hasInput: Boolean(input?.params || input?.querystring || input?.body || input?.headers), hasBody: Boolean(input?.body) }
      const response: Record<string, unknown> = { ...(input?.response ?? {}) }
      for (const status of edgeStatuses(info)) response[status] ??= Problem
      if (url === '/events/stream') {
        response[200] = { description: routeDescriptions[key]![200], content: { 'text/event-stream': { schema: { type: 'string', description: 'SSE: `event: ready` once, then `event: event` with `id` = position and an Event as `data`; comments as heartbeats' } } } }
      }
      // A query parameter with a default is optional for the client: the server fills it in.
      const querystring = input?.querystring?.required
        ? { ...input.querystring, required: input.querystring.required.filter((name) => input.querystring!.properties?.[name]?.default === undefined) }
        : input?.querystring
      const transformed = {
        ...schema,
        ...(querystring ? { querystring } : {}),
        response,
        operationId: operationIds[key] ?? derivedOperationId(method, url),
        security: allow === 'public' ? [] : [{ bearer: [] }],
        description: [schema?.description, `Who: ${roles || 'nobody'}.`].filter(Boolean).join('\n\n'),
      }
      return { schema: transformed as typeof schema, url }
    },
    transformObject: (documentObject) => {
      if (!('openapiObject' in documentObject)) return documentObject.swaggerObject
      const document = structuredClone(documentObject.openapiObject) as Record<string, unknown>
      nameSchemas(document)
      completeResponses(document, keyOf)
      return document as typeof documentObject.openapiObject
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true } })
  app.get('/openapi.json', { config: { allow: 'public' }, schema: { hide: true } }, async () => app.swagger())
}
