import { randomUUID } from 'node:crypto'
import rateLimit from '@fastify/rate-limit'
import { fastifySSE } from '@fastify/sse'
import underPressure from '@fastify/under-pressure'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { TokenStore } from '../auth/tokens.js'
import type { Faults } from '../faults.js'
import type { Inbox } from '../inbox/inbox.js'
import type { Parking } from '../inbox/parking.js'
import type { Metrics } from '../metrics.js'
import type { FeedHub } from '../projections/feed-hub.js'
import type { ProcessStats } from '../projections/process-stats.js'
import type { EventStore } from '../store/event-store.js'
import type { CommandIntake } from '../inbox/intake.js'
import type { ShipmentQueries } from '../projections/queries.js'
import { registerAuth } from './auth.js'
import { handleError, notFoundHandler, problem, RateLimited } from './problems.js'
import { adminRoutes } from './routes/admin.js'
import { processRoutes } from './routes/process.js'
import { tokenRoutes } from './routes/tokens.js'
import { vizRoutes } from '../viz/routes.js'
import { commandRoutes } from './routes/commands.js'
import { healthRoutes } from './routes/health.js'
import { shipmentRoutes } from './routes/shipments.js'
import { registerOpenApi } from './openapi.js'
import { validatorCompiler } from './validation.js'

/**
 * The HTTP edge, without `listen`: capabilities come in as options, so tests drive it with `inject`
 * and the service composes it with the real ones.
 */
export interface AppDeps {
  readonly intake: CommandIntake
  readonly inbox: Inbox
  readonly queries: ShipmentQueries
  readonly tokens: TokenStore
  readonly parking: Parking
  readonly store: EventStore
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
  /** A shipment this long in a non-final state counts as stuck. */
  readonly stuckAfterMs: number
  /** The service version shown in the OpenAPI document. */
  readonly version: string
  readonly logger?: FastifyBaseLogger
  readonly faults?: Faults
}

const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/

export async function buildApp(deps: AppDeps, options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    bodyLimit: 16 * 1024,
    // A client that drips its request is cut off (408) while others are served; idle keep-alive
    // sockets are closed.
    requestTimeout: options.requestTimeoutMs,
    connectionTimeout: Math.max(options.requestTimeoutMs, 10_000),
    keepAliveTimeout: 10_000,
    // Node checks request deadlines every `connectionsCheckingInterval` (30 s by default).
    http: { connectionsCheckingInterval: Math.min(1000, options.requestTimeoutMs / 4), headersTimeout: options.requestTimeoutMs },
    return503OnClosing: true,
    // A valid incoming X-Request-Id is kept (traceable from the scanner), else one is made.
    requestIdHeader: 'x-request-id',
    genReqId: (request) => {
      const incoming = request.headers['x-request-id']
      return typeof incoming === 'string' && requestIdPattern.test(incoming) ? incoming : randomUUID()
    },
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
  }).withTypeProvider<TypeBoxTypeProvider>()

  // JSON only: Fastify's built-in text/plain parser would turn a wrong content type into a 400.
  app.removeContentTypeParser('text/plain')
  app.setValidatorCompiler(validatorCompiler())
  app.setErrorHandler(handleError)
  app.setNotFoundHandler(notFoundHandler)
  // Callback-style hooks: they run on every request, so no promise is made for them.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })
  app.addHook('onResponse', (request, reply, done) => {
    deps.metrics.request(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000)
    done()
  })
  registerAuth(app, deps.tokens, { limit: options.authFailureLimit, windowMs: 60_000 })
  await registerOpenApi(app, options.version)
  // Load shedding: when the event loop lags, refuse work early (503 + Retry-After) instead of
  // letting every request time out; /health keeps answering.
  await app.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs,
    pressureHandler: (request, reply, type, value) => {
      if (request.url === '/health') return
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
  await app.register(commandRoutes, { intake: deps.intake, inbox: deps.inbox, queries: deps.queries })
  await app.register(shipmentRoutes, { queries: deps.queries })
  await app.register(fastifySSE, { heartbeatInterval: 15_000 })
  await app.register(processRoutes, { stats: deps.stats, queries: deps.queries, feed: deps.feed, stuckAfterMs: options.stuckAfterMs, clock: deps.clock })
  await app.register(tokenRoutes, { tokens: deps.tokens })
  await app.register(vizRoutes)
  await app.register(adminRoutes, { parking: deps.parking, store: deps.store, clock: deps.clock, onUnparked: deps.kick })
  if (options.faults) {
    const faults = options.faults
    app.addHook('onResponse', async (request) => {
      if (request.method === 'POST' && request.routeOptions.url === '/shipments/:shipmentId/commands') faults.at('after-reply')
    })
  }
  return app
}
