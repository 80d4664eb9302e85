import SwaggerParser from '@apidevtools/swagger-parser'
import t from 'tap'
import { startTestService } from '../helpers/service.js'

t.test('OpenAPI 3 from the route schemas, browsable offline', async (t) => {
  const api = await startTestService(t)
  const res = await api.request('GET', '/openapi.json', undefined, { authorization: '' })
  t.equal(res.status, 200, 'public')
  const doc = res.body
  await t.resolves(SwaggerParser.validate(structuredClone(doc)), 'a valid OpenAPI 3 document')
  t.equal(doc.openapi, '3.1.0')
  t.match(doc.components.securitySchemes, { bearer: { type: 'http', scheme: 'bearer' } })

  // Every route of docs/api.md, with its schemas.
  const expected: Array<[string, string]> = [
    ['post', '/shipments/{shipmentId}/commands'], ['get', '/commands/{commandId}'], ['get', '/shipments/{shipmentId}'],
    ['get', '/shipments/{shipmentId}/events'], ['get', '/shipments'], ['get', '/events'], ['get', '/events/stream'],
    ['get', '/machines/shipment'], ['get', '/stats'], ['get', '/health'], ['get', '/ready'], ['get', '/metrics'],
  ]
  for (const [method, path] of expected) t.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path}`)
  const command = doc.paths['/shipments/{shipmentId}/commands'].post
  t.match(command.requestBody.content['application/json'].schema, { oneOf: Array })
  t.same(Object.keys(command.responses).sort(), ['200', '201', '202', '400', '401', '403', '404', '408', '409', '413', '414', '415', '422', '429', '431', '500', '503'])
  t.match(command.parameters, [{ in: 'path', name: 'shipmentId', schema: { pattern: String } }])
  t.ok(command.parameters.some((p: { name: string }) => p.name === 'idempotency-key'), 'Idempotency-Key is documented')
  t.same(command.security, [{ bearer: [] }])
  t.same(doc.paths['/health'].get.security, [], '/health needs no token')
  t.match(doc.paths['/shipments'].get.parameters.map((p: { name: string }) => p.name).sort(), ['cursor', 'limit', 'state', 'truckId'])

  const ui = await api.request('GET', '/docs/', undefined, { authorization: '' })
  t.equal(ui.status, 200, 'the docs UI is served')
  t.notMatch(String(ui.body), /https?:\/\/(?!localhost)[a-z]/i, 'no page asset comes from another host')
})

t.test('every route’s validators and serializers compile (they are compiled on first use, not at start-up)', async (t) => {
  const api = await startTestService(t)
  const doc = (await api.request('GET', '/openapi.json', undefined, { authorization: '' })).body as { paths: Record<string, object> }
  const operations = Object.values(doc.paths).reduce((n, methods) => n + Object.keys(methods).length, 0)
  const compiled = api.service.app!.compileSchemas()
  t.ok(compiled >= 2 * operations, `${compiled} compiled: more than two per documented operation (${operations}), each throws if its schema does not compile`)
})
