import { randomUUID } from 'node:crypto'
import cors from '@fastify/cors'
import SerializerSelector from '@fastify/fast-json-stringify-compiler'
import rateLimit from '@fastify/rate-limit'
import { fastifySSE } from '@fastify/sse'
import underPressure from '@fastify/under-pressure'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { TokenStore } from '../auth/tokens.js'
import type { Faults } from '../faults.js'
import type { CommandIntake } from '../commands/intake.js'
import type { Metrics } from '../metrics.js'
import type { FeedHub } from '../projections/feed-hub.js'
import type { ProcessStats } from '../projections/process-stats.js'
import type { ShipmentQueries } from '../projections/queries.js'
import { ReviewQueries } from '../projections/review-queries.js'
import type { TruckQueries } from '../projections/truck-queries.js'
import type { Store } from '../store/store.js'
import { registerAuth, ReviewSessions } from './auth.js'
import { OpenStreams } from './event-streams.js'
import { clientErrorHandler, frameworkErrorHandler, handleError, InvalidText, notFoundHandler, problem, RateLimited } from './problems.js'
import { adminRoutes } from './routes/admin.js'
import { batchRoutes } from './routes/batches.js'
import { problemRoutes } from './routes/problems.js'
import { processRoutes } from './routes/process.js'
import { reviewRoutes } from './routes/review.js'
import { tokenRoutes } from './routes/tokens.js'
import { vizRoutes } from './routes/viz.js'
import { commandRoutes } from './routes/commands.js'
import { healthRoutes } from './routes/health.js'
import { shipmentRoutes } from './routes/shipments.js'
import { truckRoutes } from './routes/trucks.js'
import { registerOpenApi } from './openapi.js'
import { RequestLog } from './request-log.js'
import { findUncleanText, FirstUse, validatorCompiler } from '../commands/validation.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Compiles every route's validators and serializers now (they are compiled on first use); how many. */
    compileSchemas(): number
  }
}

/**
 * The HTTP edge, without `listen`: capabilities come in as options, so tests drive it with `inject`
 * and the service composes it with the real ones.
 */
export interface AppDeps {
  readonly intake: CommandIntake
  readonly store: Store
  readonly queries: ShipmentQueries
  readonly trucks: TruckQueries
  readonly tokens: TokenStore
  readonly stats: ProcessStats
  readonly feed: FeedHub
  readonly metrics: Metrics
  readonly clock: () => number
  /** Wakes the local worker (after an admin unparked a shipment). */
  readonly kick: () => void
  readonly checks: Readonly<Record<string, () => boolean | Promise<boolean>>>
}

export interface AppOptions {
  /** Requests per second per token before 429; 0 = no limit. */
  readonly rateLimit: number
  /** Failed authentications per minute from one address before 429. */
  readonly authFailureLimit: number
  /** Event-loop delay above which requests are shed (503). */
  readonly maxEventLoopDelayMs: number
  /** Time a client has to send its whole request. */
  readonly requestTimeoutMs: number
  /**
   * The longest a request may legitimately wait, silent, for its answer (a command: the intake's wait
   * for a locked database plus the reply timeout). No socket timeout may be shorter.
   */
  readonly answerWithinMs: number
  /** Most event streams one token may hold open. */
  readonly maxStreamsPerToken: number
  /** A shipment this long in a non-final state counts as stuck. */
  readonly stuckAfterMs: number
  /** Origins whose browser apps may call the API (CORS); empty or absent: no cross-origin access. */
  readonly corsOrigins?: readonly string[]
  /** The service version shown in the OpenAPI document. */
  readonly version: string
  /** HTTPS with this certificate and key (PEM contents); absent: plain HTTP. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer }
  /** Reverse proxies whose X-Forwarded-For names the client (`request.ip`); empty: none. */
  readonly trustProxy?: readonly string[]
  readonly logger?: FastifyBaseLogger
  readonly faults?: Faults
}

/** docs/api.md: a client's X-Request-Id is kept only if it is 1–128 visible ASCII characters. */
const requestIdPattern = /^[\x21-\x7E]{1,128}$/
/** Bodies must be UTF-8: an invalid byte sequence is refused, not replaced by U+FFFD. */
const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * The socket timeouts, in one place. `requestTimeout`/`headersTimeout` cut a client that drips its
 * request (408). The idle timeout (`connectionTimeout`: no byte either way) ends dead sockets; it is
 * longer than any silence a live request has: a command waiting for its outcome (`answerWithinMs`,
 * then it gets its 202) and an event stream, which writes a heartbeat every 2.5 s (a quarter of the
 * shortest idle timeout, and half the 5 s the API promises, so a server whose loop lags a second or
 * two under load still keeps the promise; well inside the usual 30–60 s of proxies in front).
 * Keep-alive sockets between requests close after `keepAliveTimeout`.
 */
export function socketTimeouts(options: Pick<AppOptions, 'requestTimeoutMs' | 'answerWithinMs'>): { idleMs: number; heartbeatMs: number; keepAliveMs: number } {
  const idleMs = Math.max(options.requestTimeoutMs, options.answerWithinMs + 5_000, 10_000)
  return { idleMs, heartbeatMs: 2_500, keepAliveMs: 10_000 }
}

export async function buildApp(deps: AppDeps, options: AppOptions): Promise<FastifyInstance> {
  const timeouts = socketTimeouts(options)
  const schemas = new FirstUse()
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    bodyLimit: 16 * 1024,
    requestTimeout: options.requestTimeoutMs,
    connectionTimeout: timeouts.idleMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    // Errors of the HTTP parser itself (bad framing, smuggling attempts, 408, 431) never reach a
    // route: they are answered here, as problem+json too.
    clientErrorHandler,
    // Node checks request deadlines every `connectionsCheckingInterval` (30 s by default). With TLS
    // the same server options go to https.createServer (the type stays the HTTP instance's).
    ...((): { http: object } => {
      const server = { connectionsCheckingInterval: Math.min(1000, options.requestTimeoutMs / 4), headersTimeout: options.requestTimeoutMs }
      return (options.tls ? { https: { ...server, cert: options.tls.cert, key: options.tls.key } } : { http: server }) as { http: object }
    })(),
    // Behind a reverse proxy: the client is the address X-Forwarded-For names, as far as these proxies vouch.
    trustProxy: options.trustProxy && options.trustProxy.length > 0 ? [...options.trustProxy] : false,
    return503OnClosing: true,
    // Response serializers compiled on a route's first answer with each status, as the validators are
    // on a route's first request (see FirstUse).
    schemaController: { compilersFactory: { buildSerializer: serializersOnFirstUse(schemas) } },
    // One line per command or batch at info (the routes write it), a refused request at info, the rest at debug.
    logController: new RequestLog(),
    // A valid incoming X-Request-Id is kept (traceable from the scanner), else one is made. With a
    // `requestIdHeader` Fastify would take any value of the header as it is and call `genReqId` only
    // when it is missing, so the header is read (and checked) here, on every request.
    requestIdHeader: false,
    genReqId: (request) => {
      const incoming = request.headers['x-request-id']
      return typeof incoming === 'string' && requestIdPattern.test(incoming) ? incoming : randomUUID()
    },
    // Router-level refusals (a path that is not valid percent-encoded UTF-8, an over-long parameter)
    // answer problem+json like every other error instead of Fastify's own JSON.
    frameworkErrors: (error, request, reply) => frameworkErrorHandler(error, request, reply.header('x-request-id', request.id)),
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
  }).withTypeProvider<TypeBoxTypeProvider>()

  // JSON only: Fastify's built-in text/plain parser would turn a wrong content type into a 400.
  app.removeContentTypeParser('text/plain')
  // Fastify's JSON parser (prototype-poisoning checks included), behind a strict UTF-8 decode and a
  // check that no string in the body, key or value, is a lone surrogate or holds NUL.
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string
    try {
      text = utf8.decode(body as Buffer)
    } catch {
      return done(new InvalidText('the body is not valid UTF-8'), undefined)
    }
    parseJson(request, text, (error, value) => {
      if (error) return done(error, undefined)
      // A batch's items are checked one by one (a malformed item is that item's 400): the rest here.
      const checked = request.routeOptions.config.itemsCheckedAlone && isObject(value) ? { ...value, items: undefined } : value
      const where = findUncleanText(checked)
      done(where === null ? null : new InvalidText(`body${where === '/' ? '' : where} is not well-formed Unicode text (a lone surrogate or NUL)`), where === null ? value : undefined)
    })
  })
  app.setValidatorCompiler(validatorCompiler(schemas))
  app.decorate('compileSchemas', () => schemas.compileAll())
  app.setErrorHandler(handleError)
  app.setNotFoundHandler(notFoundHandler)
  // Callback-style hooks: they run on every request, so no promise is made for them.
  app.decorateRequest('answerLogged', false)
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })
  // The same rule for the path and the query string of routes that read them, before any schema sees
  // them (an ignored query parameter is not taken in). Headers cannot carry either: Node's parser
  // refuses NUL and reads header bytes as Latin-1, and the headers the service reads have ASCII grammars.
  app.addHook('preValidation', (request, _reply, done) => {
    const schema = request.routeOptions.schema
    const where =
      (schema?.params && findUncleanText(request.params) && 'path') ?? (schema?.querystring && findUncleanText(request.query) && 'query string')
    done(where ? new InvalidText(`the ${where} holds text that is not well-formed Unicode (a lone surrogate or NUL)`) : undefined)
  })
  app.addHook('onResponse', (request, reply, done) => {
    deps.metrics.request(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000)
    done()
  })
  if (options.corsOrigins && options.corsOrigins.length > 0) {
    // Before the auth hook: a preflight carries no token and is answered in cors' own hook. Only the
    // listed origins get a grant; bearer tokens, not cookies, so no credentials mode.
    await app.register(cors, {
      origin: [...options.corsOrigins],
      methods: ['GET', 'POST', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'idempotency-key', 'prefer', 'if-none-match', 'last-event-id', 'x-request-id'],
      exposedHeaders: ['location', 'retry-after', 'idempotent-replayed', 'preference-applied', 'etag', 'x-request-id'],
      maxAge: 600,
    })
  }
  // The process map's sign-in (a session cookie for reviewers; see auth.ts).
  const sessions = new ReviewSessions({ clock: deps.clock })
  registerAuth(app, deps.tokens, { limit: options.authFailureLimit, windowMs: 60_000 }, undefined, sessions)
  await registerOpenApi(app, options.version)
  // Load shedding: when the event loop lags, refuse work early (503 + Retry-After) instead of
  // letting every request time out; /health keeps answering.
  await app.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs,
    pressureHandler: (request, reply, type, value) => {
      if (request.url === '/health') return
      if (!isMeasuredPressure(type, value)) return
      request.log.warn({ type, value }, 'shedding load')
      // A value (not undefined) makes the plugin send it and end the request here: the route never runs.
      reply.code(503).header('retry-after', '1').type('application/problem+json')
      return problem('unavailable', `the service is overloaded (${type}); retry shortly`) as never
    },
  })
  if (options.rateLimit > 0) {
    await app.register(rateLimit, {
      max: options.rateLimit,
      timeWindow: 1000,
      hook: 'preHandler',
      keyGenerator: (request) => request.principal?.tokenId ?? request.ip,
      errorResponseBuilder: (_request, context) => new RateLimited(`more than ${context.max} requests per second from this device; retry in ${context.after}`),
    })
  }
  await app.register(healthRoutes, { checks: deps.checks, metrics: deps.metrics })
  await app.register(commandRoutes, { intake: deps.intake, inbox: deps.store.inbox, queries: deps.queries })
  await app.register(shipmentRoutes, { queries: deps.queries })
  await app.register(batchRoutes, { intake: deps.intake, devices: deps.store.devices })
  await app.register(truckRoutes, { intake: deps.intake, trucks: deps.trucks, queries: deps.queries })
  const streams = new OpenStreams(
    { isActive: (tokenId) => deps.tokens.isActive(tokenId), log: app.log },
    { maxPerToken: options.maxStreamsPerToken, recheckMs: 500 },
  )
  // Open streams would hold the server's close forever: they end first (clients resume elsewhere).
  app.addHook('preClose', (done) => {
    streams.closeAll('server closing')
    done()
  })
  await app.register(fastifySSE, { heartbeatInterval: timeouts.heartbeatMs })
  await app.register(processRoutes, { stats: deps.stats, queries: deps.queries, feed: deps.feed, streams, maxStreamsPerToken: options.maxStreamsPerToken, stuckAfterMs: options.stuckAfterMs, clock: deps.clock })
  await app.register(tokenRoutes, {
    tokens: deps.tokens,
    onRevoked: (tokenId) => {
      streams.revoked(tokenId)
      sessions.endAllOf(tokenId)
    },
  })
  const review = new ReviewQueries(deps.store)
  await app.register(vizRoutes, { stats: deps.stats, review, sessions, stuckAfterMs: options.stuckAfterMs, clock: deps.clock })
  await app.register(reviewRoutes, { review, stuckAfterMs: options.stuckAfterMs, clock: deps.clock })
  await app.register(problemRoutes)
  await app.register(adminRoutes, { parking: deps.store.parking, clock: deps.clock, onUnparked: deps.kick })
  if (options.faults) {
    const faults = options.faults
    app.addHook('onResponse', async (request) => {
      if (request.method === 'POST' && (request.routeOptions.url === '/shipments/:shipmentId/commands' || request.routeOptions.url === '/batches')) faults.at('after-reply')
    })
  }
  return app
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * under-pressure reports a sampling interval without a single event-loop sample (a stall or a
 * descheduled process that outlasted it) as an Infinity delay, whatever the stall's length: that says
 * the loop stalled, not that it is over the limit (fastify/under-pressure#125). The next interval
 * measures it; shedding on it would answer 503 to the first requests after any long pause even with
 * a limit of minutes.
 */
export function isMeasuredPressure(type: string, value: number | undefined): boolean {
  return !(type === 'eventLoopDelay' && (value === undefined || !Number.isFinite(value)))
}

/** fast-json-stringify, as Fastify uses it, with each serializer compiled when first called (see FirstUse). */
function serializersOnFirstUse(schemas: FirstUse): SerializerSelector.SerializerFactory {
  return (...factory) => {
    const compile = SerializerSelector()(...factory)
    return (route) => {
      const serializer = schemas.defer(() => compile(route))
      return (document) => serializer()(document)
    }
  }
}
