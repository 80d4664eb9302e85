import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Chart } from '../../../machines/chart.js'
import { shipmentChart } from '../../../machines/shipment/index.js'
import { truckChart } from '../../../machines/truck/index.js'
import type { ProcessStats } from '../../projections/process-stats.js'
import type { ReviewQueries } from '../../projections/review-queries.js'
import { legend, machineWords, reasonWords, truckReasonWords } from '../../viz/glossary.js'
import { layoutChart, type ChartLayout } from '../../viz/layout.js'
import { renderMermaid } from '../../viz/mermaid.js'
import { chartNumbers, duration, type ChartNumbers } from '../../viz/numbers.js'
import { renderSvg } from '../../viz/svg.js'
import { anyRole, clearSessionCookie, readers, setSessionCookie, type ReviewSessions } from '../auth.js'
import { problem, sendProblem } from '../problems.js'
import { ChartNumbersResponse, ChartQuery, GlossaryResponse, NumbersQuery, problems, Session } from '../schemas.js'
import { reviewWindow, windowOf } from './window.js'

/**
 * The process map for business review. `GET /viz` is a public shell (HTML, no data: a browser cannot
 * send a bearer token when it navigates); its script and styles come from `/viz/assets/`, also
 * public. Everything with data needs a reviewer or admin: the charts' layouts, SVGs and Mermaid text,
 * the words the page shows (`/viz/glossary.json`), the numbers drawn on the charts
 * (`/viz/numbers.json`), and the data routes it reads (`/stats`, `/review/…`, `/shipments…`,
 * `/events/stream`) — with a bearer token, or with the session cookie the page gets by signing in
 * (`POST /viz/session`, see auth.ts `ReviewSessions`).
 *
 * The page talks to its own origin only; its Content-Security-Policy makes the browser enforce that.
 */
export interface VizRoutesOptions {
  readonly stats: ProcessStats
  readonly review: ReviewQueries
  readonly sessions: ReviewSessions
  readonly stuckAfterMs: number
  readonly clock: () => number
}

const charts: Readonly<Record<'shipment' | 'truck', Chart>> = { shipment: shipmentChart, truck: truckChart }

export const vizRoutes: FastifyPluginAsyncTypebox<VizRoutesOptions> = async (app, { stats, review, sessions, stuckAfterMs, clock }) => {
  // src/viz/assets when run from source, dist/src/viz/assets (copied there by `npm run build`) when
  // run compiled, so a deployment of the packed files is self-contained.
  const assets = fileURLToPath(new URL('../../viz/assets/', import.meta.url))
  const page = await readFile(join(assets, 'index.html'), 'utf8')
  const layouts = { shipment: layoutOf(shipmentChart), truck: layoutOf(truckChart) }
  const bare = { shipment: bareSvgOf(shipmentChart, layouts.shipment), truck: bareSvgOf(truckChart, layouts.truck) }
  const words = { machines: { shipment: machineWords(shipmentChart), truck: machineWords(truckChart) }, reasons: reasonWords, truckReasons: truckReasonWords, legend: legend(duration(stuckAfterMs)), stuckAfterMs }

  app.get(
    '/viz',
    {
      config: { allow: 'public' },
      schema: { summary: 'The process map page (HTML shell; its data needs a reviewer token or session)', tags: ['process map'], produces: ['text/html'], response: { 200: Type.String() } },
    },
    async (_request, reply) =>
      reply
        .header('content-security-policy', pagePolicy)
        .header('referrer-policy', 'no-referrer')
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'no-cache')
        .type('text/html; charset=utf-8')
        .send(page),
  )

  await app.register(async (scope) => {
    // @fastify/static takes no route config: its routes (the page's script and styles, no data) are
    // marked public here, in a scope of their own, so the auth hook lets them through. One route per
    // file present at start; the page itself is served only as /viz, with its policy.
    scope.addHook('onRoute', (route) => {
      route.config = { ...route.config, allow: 'public' }
    })
    await scope.register(fastifyStatic, { root: assets, prefix: '/viz/assets/', wildcard: false, index: false, globIgnore: ['index.html'], decorateReply: false })
  })

  app.get(
    '/viz/layout.json',
    {
      config: { allow: readers },
      schema: {
        summary: "A machine's state chart laid out (ELK layered): states with boxes and nesting, transitions with routes and label boxes",
        tags: ['process map'],
        querystring: Type.Object({ machine: ChartQuery.properties.machine }, { additionalProperties: false }),
        response: { 200: Type.Unsafe<ChartLayout>({ type: 'object', additionalProperties: true }), ...problems(400, 401, 403) },
      },
    },
    async (request) => layouts[request.query.machine](),
  )

  /** The numbers of both charts for a window (what the page writes into the SVGs' slots). */
  async function numbersOf(window: { from?: number; to?: number }, threshold: number): Promise<Record<'shipment' | 'truck', ChartNumbers>> {
    const [shipments, trucks] = await Promise.all([
      stats.read(window, threshold, clock()),
      review.truckNumbers({ from: window.from ?? 0, to: window.to ?? Number.MAX_SAFE_INTEGER }),
    ])
    return { shipment: chartNumbers(shipmentChart, shipments), truck: chartNumbers(truckChart, trucks) }
  }

  app.get(
    '/viz/numbers.json',
    {
      config: { allow: readers },
      schema: {
        summary: 'The numbers on both charts for a window, element by element: per state now, dwell, stuck, refusals; per transition traffic and weight',
        tags: ['process map'],
        querystring: NumbersQuery,
        response: { 200: ChartNumbersResponse, ...problems(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const window = windowOf(request.query, clock(), reviewWindow)
      if ('problem' in window) return sendProblem(reply, window.problem)
      const threshold = request.query.stuckAfterMs ?? stuckAfterMs
      return {
        window: { from: new Date(window.from).toISOString(), to: new Date(window.to).toISOString() },
        generatedAt: new Date(clock()).toISOString(),
        stuckAfterMs: threshold,
        machines: await numbersOf(window.given, threshold),
      }
    },
  )

  app.get(
    '/viz/glossary.json',
    {
      config: { allow: readers },
      schema: {
        summary: 'The words the page shows: every state, transition, command and refusal reason in plain language, and the legend of every mark',
        tags: ['process map'],
        response: { 200: GlossaryResponse, ...problems(401, 403) },
      },
    },
    async () => words,
  )

  // The drawing as files a reviewer can save, print or paste into a document.
  const downloads = [
    { extension: 'svg', type: 'image/svg+xml', summary: 'A state chart as SVG (`numbers=true`: with the numbers of the window, a legend and a caption)' },
    { extension: 'mmd', type: 'text/plain', summary: 'A state chart as Mermaid stateDiagram-v2 text' },
  ] as const
  for (const { extension, type, summary } of downloads) {
    app.get(
      `/viz/chart.${extension}`,
      {
        config: { allow: readers },
        schema: { summary, tags: ['process map'], produces: [type], querystring: ChartQuery, response: { 200: Type.String(), ...problems(400, 401, 403) } },
      },
      async (request, reply) => {
        const { machine, numbers } = request.query
        const chart = charts[machine]
        let body: string
        let suffix = ''
        if (extension === 'mmd') body = renderMermaid(chart)
        else if (!numbers) body = await bare[machine]()
        else {
          const window = windowOf(request.query, clock(), reviewWindow)
          if ('problem' in window) return sendProblem(reply, window.problem)
          const threshold = request.query.stuckAfterMs ?? stuckAfterMs
          const drawn = (await numbersOf(window.given, threshold))[machine]
          const now = clock()
          body = renderSvg(chart, await layouts[machine](), {
            numbers: drawn,
            stuckAfter: duration(threshold),
            caption: `${chart.id} v${chart.version} · ${utc(window.from)} – ${utc(window.to)} · generated ${utc(now)}`,
          })
          suffix = '-numbers'
        }
        return reply
          .type(`${type}; charset=utf-8`)
          .header('content-disposition', `inline; filename="${chart.id}-v${chart.version}${suffix}.${extension}"`)
          .send(body)
      },
    )
  }

  // --- sign-in: a session cookie for the page (auth.ts ReviewSessions) ----------------------------
  app.post(
    '/viz/session',
    {
      // Every role gets in here so that a scanner's token is told in words why the map stays shut.
      config: { allow: anyRole },
      schema: {
        summary: 'Sign in to the process map: exchanges the bearer token (reviewer or admin) for a session cookie (HttpOnly, SameSite=Strict)',
        tags: ['process map'],
        response: { 201: Session, ...problems(401, 403, 429) },
      },
    },
    async (request, reply) => {
      const principal = request.principal!
      if (principal.role !== 'reviewer' && principal.role !== 'admin') {
        return sendProblem(
          reply,
          problem('forbidden', `this is a ${principal.role}'s token: it can send scans but cannot open the process map; ask an administrator for a reviewer token`),
        )
      }
      const session = sessions.create(principal)
      setSessionCookie(request, reply, session, sessions.ttlMs)
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({ deviceId: principal.deviceId, role: principal.role, expiresAt: new Date(session.expiresAt).toISOString() })
    },
  )

  app.get(
    '/viz/session',
    {
      config: { allow: readers },
      schema: {
        summary: 'The process map session this browser holds (its cookie); 401 without one',
        tags: ['process map'],
        response: { 200: Session, ...problems(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { session } = request
      if (!session) return sendProblem(reply, problem('not-found', 'this request used a bearer token, not a session'))
      const role = session.principal.role === 'admin' ? 'admin' : 'reviewer'
      return reply.header('cache-control', 'no-store').send({ deviceId: session.principal.deviceId, role, expiresAt: new Date(session.expiresAt).toISOString() })
    },
  )

  app.delete(
    '/viz/session',
    {
      config: { allow: readers, acceptsSession: true },
      schema: {
        summary: 'Sign out: ends the session and clears its cookie',
        tags: ['process map'],
        response: { 204: Type.Null({ description: 'Signed out' }), ...problems(401, 403) },
      },
    },
    async (request, reply) => {
      if (request.session) sessions.end(request.session.id)
      clearSessionCookie(request, reply)
      return reply.code(204).header('cache-control', 'no-store').send(null)
    },
  )
}

/** A moment for a printed caption (the server knows no reader's zone): "2026-12-05 14:32 UTC". */
const utc = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`

/** Same origin only, no inline script or style, no plugins, not framed. */
const pagePolicy = [
  "default-src 'self'",
  "img-src 'self' data: blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

/**
 * A chart's layout, made on first use and then kept for the app's life: the chart is fixed for a
 * machine version, and a layout costs ELK's start-up. Lazy, so apps that never serve the map (tests,
 * API-only processes) never pay for it.
 */
function layoutOf(chart: Chart): () => Promise<ChartLayout> {
  let made: Promise<ChartLayout> | undefined
  return () => (made ??= layoutChart(chart))
}

/** The chart drawn without numbers (what the page mounts and fills), kept like its layout. */
function bareSvgOf(chart: Chart, layout: () => Promise<ChartLayout>): () => Promise<string> {
  let made: Promise<string> | undefined
  return () => (made ??= layout().then((l) => renderSvg(chart, l)))
}
