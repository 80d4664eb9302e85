import type { FastifyPluginAsync } from 'fastify'

/**
 * The process map for business review (`GET /viz`): a page served by the app, drawn from the machine
 * (`GET /machines/shipment`) with a server-side layout, live from `GET /events/stream`.
 * (Placeholder: the page is being built.)
 */
export const vizRoutes: FastifyPluginAsync = async (app) => {
  app.get('/viz', { config: { allow: 'public' } }, async (_request, reply) =>
    reply.type('text/html; charset=utf-8').send('<!doctype html><title>Waybill</title><p>process map</p>'),
  )
}
