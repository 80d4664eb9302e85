import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'

/**
 * OpenAPI 3 generated from the route schemas (`/openapi.json`), browsable at `/docs` (Swagger UI's
 * own files, served locally: no CDN). Every route that needs a token says so with the bearer scheme.
 * Register before the routes: the document is collected as they are added.
 */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  // The documentation itself is public (it holds no data); everything else keeps its declared roles.
  app.addHook('onRoute', (route) => {
    if (route.url === '/docs' || route.url.startsWith('/docs/')) route.config = { ...route.config, allow: 'public' }
  })
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Waybill',
        version,
        description:
          'Event-sourced shipment processor for a depot. Errors are RFC 9457 `application/problem+json`; ' +
          'their `type` is `/problems/<code>`. Command requests accept `Idempotency-Key` and `Prefer: respond-async`.',
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
      ],
    },
    transform: ({ schema, url, route }) => {
      const allow = route.config?.allow
      const roles = allow === 'public' ? 'public' : (allow ?? []).join(', ')
      const transformed = {
        ...schema,
        security: allow === 'public' ? [] : [{ bearer: [] }],
        description: [schema?.description, `Who: ${roles || 'nobody'}.`].filter(Boolean).join('\n\n'),
      }
      return { schema: transformed as typeof schema, url }
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true } })
  app.get('/openapi.json', { config: { allow: 'public' }, schema: { hide: true } }, async () => app.swagger())
}
