import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsync } from 'fastify'
import { Type } from 'typebox'
import { shipmentChart, type Chart } from '../../machines/shipment/index.js'
import { readers } from '../http/auth.js'
import { packageRoot } from '../package-info.js'
import { problems } from '../http/schemas.js'
import { layoutChart, type ChartLayout } from './layout.js'
import { renderMermaid } from './mermaid.js'
import { renderSvg } from './svg.js'

/**
 * The process map for business review. `GET /viz` is a public shell (HTML, no data: a browser cannot
 * send a bearer token when it navigates); its script and styles come from `/viz/assets/`, also
 * public. Everything with data needs a reviewer or admin token: the chart's layout, SVG and Mermaid
 * text here, the numbers from `GET /stats`, `/shipments…` and `/events/stream`.
 *
 * The page talks to its own origin only; its Content-Security-Policy makes the browser enforce that.
 */
export const vizRoutes: FastifyPluginAsync = async (app) => {
  // The build copies no assets: they are read from the installation's src/viz/assets.
  const assets = join(packageRoot, 'src', 'viz', 'assets')
  const page = await readFile(join(assets, 'index.html'), 'utf8')
  const drawing = drawingsOf(shipmentChart)
  const fileName = `${shipmentChart.id}-v${shipmentChart.version}`

  app.get(
    '/viz',
    {
      config: { allow: 'public' },
      schema: { summary: 'The process map page (HTML shell; its data needs a reviewer token)', tags: ['process map'], produces: ['text/html'], response: { 200: Type.String() } },
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
        summary: 'The state chart laid out (ELK layered): states with boxes and nesting, transitions with routes and label boxes',
        tags: ['process map'],
        response: { 200: Type.Unsafe<ChartLayout>({ type: 'object', additionalProperties: true }), ...problems(401, 403) },
      },
    },
    async () => (await drawing()).layout,
  )

  // The drawing as files a reviewer can save or paste into a document.
  const downloads = [
    { extension: 'svg', type: 'image/svg+xml', summary: 'The state chart as SVG', body: (d: Drawings) => d.svg },
    { extension: 'mmd', type: 'text/plain', summary: 'The state chart as Mermaid stateDiagram-v2 text', body: (d: Drawings) => d.mermaid },
  ]
  for (const { extension, type, summary, body } of downloads) {
    app.get(
      `/viz/chart.${extension}`,
      {
        config: { allow: readers },
        schema: { summary, tags: ['process map'], produces: [type], response: { 200: Type.String(), ...problems(401, 403) } },
      },
      async (_request, reply) =>
        reply
          .type(`${type}; charset=utf-8`)
          .header('content-disposition', `inline; filename="${fileName}.${extension}"`)
          .send(body(await drawing())),
    )
  }
}

/** Same origin only, no inline script or style, no plugins, not framed. */
const pagePolicy = [
  "default-src 'self'",
  "img-src 'self' data: blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

interface Drawings {
  readonly layout: ChartLayout
  readonly svg: string
  readonly mermaid: string
}

/**
 * The chart's drawings, made on first use and then kept for the app's life: the chart is fixed for a
 * machine version, and a layout costs ELK's start-up. Lazy, so apps that never serve the map (tests,
 * API-only processes) never pay for it.
 */
function drawingsOf(chart: Chart): () => Promise<Drawings> {
  let made: Promise<Drawings> | undefined
  return () =>
    (made ??= layoutChart(chart).then((layout) => ({ layout, svg: renderSvg(chart, layout), mermaid: renderMermaid(chart) })))
}
