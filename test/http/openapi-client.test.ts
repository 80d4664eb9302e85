import { execFile } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import openapiTS, { astToString } from 'openapi-typescript'
import t from 'tap'
import { rejectionReasons } from '../../machines/shipment/index.js'
import { truckRejectionReasons } from '../../machines/truck/index.js'
import { clientErrorHandler, problemTypes, type ProblemCode } from '../../src/http/problems.js'
import { startTestService, tempDir } from '../helpers/service.js'

const exec = promisify(execFile)
const tsc = fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url))

/**
 * The OpenAPI document is something a scanner-app developer can generate a client from: types made by
 * openapi-typescript from /openapi.json, and a small usage file that must type-check against them
 * (and must fail where a client would be wrong: `@ts-expect-error` lines).
 */
const usage = `
import type { components, operations, paths } from './api.js'

type Shipment = components['schemas']['Shipment']
type Problem = components['schemas']['Problem']
type Send = operations['sendShipmentCommand']
type Body = Send['requestBody'] extends { content: { 'application/json': infer B } } | undefined ? B : never

export const register: Body = { type: 'REGISTER', origin: 'Depot A', scannedAt: '2026-12-01T08:00:00Z' }
export const assign: Body = { type: 'ASSIGN', truckId: 'T-1' }
// @ts-expect-error ASSIGN needs a truck
export const noTruck: Body = { type: 'ASSIGN' }
// @ts-expect-error no such command
export const teleport: Body = { type: 'TELEPORT' }

export const accepted: Send['responses'][201]['content']['application/json']['outcome'] = 'accepted'
export const queued: Send['responses'][202]['content']['application/json']['outcome'] = 'queued'
export const location: Send['responses'][202]['headers']['Location'] = '/commands/01a2'
export const replayed: Send['responses'][409]['headers']['Idempotent-Replayed'] = 'true'
export const retryAfter: Send['responses'][503]['headers']['Retry-After'] = 1
type Rejected = Send['responses'][409]['content']['application/problem+json']
export const reason: NonNullable<Rejected['reason']> = 'invalid_transition'
export const discarded: NonNullable<Problem['reason']> = 'discarded'
// @ts-expect-error reason is an enum, not any string
export const badReason: NonNullable<Rejected['reason']> = 'because'
export const notFound: Send['responses'][404]['content']['application/problem+json']['status'] = 404
export const allowed: NonNullable<Rejected['allowed']> = ['ASSIGN', 'CANCEL']

export const state: Shipment['state'] = 'assigned'
export const etag: operations['getShipment']['responses'][200]['headers']['ETag'] = 'W/"3"'
export const polled: operations['getCommand']['responses'][200]['content']['application/json']['shipment'] = undefined

// Query parameters with a default are optional.
export const firstPage: NonNullable<operations['listShipments']['parameters']['query']> = {}
export const feed: NonNullable<paths['/events']['get']['parameters']['query']> = {}

type StreamErrors = keyof operations['streamEvents']['responses']
export const streamErrors: StreamErrors[] = [200, 400, 401, 403, 406, 408, 409, 429, 431]
export const problemPage: operations['getProblemType']['responses'][200]['content']['application/json']['code'] = 'invalid-transition'
`

t.test('a TypeScript client generated from /openapi.json type-checks against its usage', async (t) => {
  const api = await startTestService(t)
  const doc = (await api.request('GET', '/openapi.json', undefined, { authorization: '' })).body
  const dir = tempDir(t)
  writeFileSync(join(dir, 'api.ts'), astToString(await openapiTS(structuredClone(doc))))
  writeFileSync(join(dir, 'usage.ts'), usage)
  const compilerOptions = { noEmit: true, strict: true, exactOptionalPropertyTypes: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', types: [] }
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['usage.ts'] }))
  const result = await exec(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: dir }).then(
    () => ({ code: 0, stdout: '' }),
    (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
  )
  t.equal(result.code, 0, result.stdout)
})

t.test('the document says what the service does', async (t) => {
  const api = await startTestService(t)
  const doc = (await api.request('GET', '/openapi.json', undefined, { authorization: '' })).body
  const operations = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method, op })))
  const ids = operations.map((o) => o.op.operationId)
  t.equal(new Set(ids).size, ids.length, 'operationIds are unique')
  t.notOk(ids.some((id) => !id), 'every operation has an operationId')
  for (const { path, method, op } of operations) {
    for (const [status, response] of Object.entries(op.responses as Record<string, any>)) {
      t.not(response.description, 'Default Response', `${method} ${path} ${status} is described`)
      if (Number(status) >= 400) t.same(Object.keys(response.content ?? {}), ['application/problem+json'], `${method} ${path} ${status} is problem+json`)
    }
    if (op.security.length > 0) t.ok(op.responses['401'] && op.responses['403'], `${method} ${path} declares 401 and 403`)
    for (const parameter of op.parameters ?? []) {
      if (parameter.in === 'query' && parameter.schema?.default !== undefined) t.notOk(parameter.required, `${method} ${path} ?${parameter.name} has a default, so it is optional`)
    }
  }
  const stream = doc.paths['/events/stream'].get
  t.ok(stream.responses['200'].content['text/event-stream'], 'the stream answers text/event-stream')
  for (const status of ['400', '401', '403', '406']) t.ok(stream.responses[status], `the stream declares ${status}`)
  t.same(doc.components.schemas.Problem.properties.reason.enum.sort(), [...new Set([...rejectionReasons, ...truckRejectionReasons, 'discarded'])].sort(), 'reason is the enum of codes (both machines’)')
  for (const name of ['Shipment', 'CommandResult', 'Queued', 'CommandStatus', 'Event', 'Problem', 'RegisterCommand']) t.ok(doc.components.schemas[name], `${name} is a named schema`)
})

t.test('every problem type resolves to a page', async (t) => {
  const api = await startTestService(t)
  for (const [code, { status, title }] of Object.entries(problemTypes)) {
    const json = await api.request('GET', `/problems/${code}`, undefined, { authorization: '' })
    t.equal(json.status, 200, code)
    t.match(json.body, { type: `/problems/${code}`, status, title, description: String })
    t.not(json.body.description, title, `${code} is explained beyond its title`)
  }
  const html = await api.request('GET', '/problems/invalid-transition', undefined, { authorization: '', accept: 'text/html' })
  t.match(html.headers['content-type'], /^text\/html/)
  t.match(html.body, /<h1>The shipment&#39;s state does not allow this command<\/h1>/)
  const unknown = await api.request('GET', '/problems/no-such-thing', undefined, { authorization: '' })
  t.equal(unknown.status, 404)
  t.equal((await api.request('GET', '/problems', undefined, { authorization: '' })).body.items.length, Object.keys(problemTypes).length)
})

/** What the HTTP parser answers for an error code (clientErrorHandler writes on the socket itself). */
function parserStatus(code: string): number {
  let written = ''
  const socket = { destroyed: false, writable: true, write: (text: string) => (written += text), destroy: () => {} } as unknown as Socket
  clientErrorHandler.call({ log: { debug: () => {} } } as never, Object.assign(new Error(code), { code }), socket)
  t.match(written, /\r\nContent-Type: application\/problem\+json\r\n/, `${code} is answered as problem+json`)
  return Number(/^HTTP\/1\.1 (\d+)/.exec(written)?.[1])
}

t.test('every status a route can answer is in the document', async (t) => {
  const api = await startTestService(t)
  const doc = (await api.request('GET', '/openapi.json', undefined, { authorization: '' })).body
  const paths = doc.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>

  // Before any route: the HTTP parser (a smuggling attempt or other bad framing, a slow request,
  // headers too large) — on every operation; the router (a path parameter over its limit) — on every
  // operation with one.
  const parser = new Set(['HPE_UNEXPECTED_CONTENT_LENGTH', 'HPE_INVALID_HEADER_TOKEN', 'ERR_HTTP_REQUEST_TIMEOUT', 'HPE_HEADER_OVERFLOW'].map(parserStatus))
  t.same([...parser].sort(), [400, 408, 431], 'the parser answers 400, 408 and 431')
  for (const [path, operations] of Object.entries(paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const missing = [...parser, ...(path.includes('{') ? [problemTypes['uri-too-long'].status] : [])].filter((status) => !operation.responses[status])
      t.same(missing, [], `${method.toUpperCase()} ${path} declares the parser's and the router's answers`)
    }
  }

  // In the handlers: every problem a route's code sends (read from its source) is declared for it.
  const routes = fileURLToPath(new URL('../../src/http/routes/', import.meta.url))
  let checked = 0
  for (const file of readdirSync(routes).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(join(routes, file), 'utf8')
    const starts = [...source.matchAll(/app\.(get|post|put|patch|delete)\(\s*(['`])([^'`]+)\2/g)]
    for (const [i, start] of starts.entries()) {
      const body = source.slice(start.index, starts[i + 1]?.index ?? source.length)
      const codes = [...body.matchAll(/problem\('([a-z-]+)'/g)].map((m) => m[1] as ProblemCode)
      // A template path (`/viz/chart.${extension}`) stands for each of its routes.
      const pattern = new RegExp(`^${start[3]!.replace(/\$\{[^}]+\}/g, '[^/]+').replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\./g, '\\.')}$`)
      const operations = Object.entries(paths).filter(([path]) => pattern.test(path)).map(([path, ops]) => ({ path, operation: ops[start[1]!] }))
      t.ok(operations.length > 0 && operations.every((o) => o.operation), `${start[1]!.toUpperCase()} ${start[3]} (${file}) is in the document`)
      for (const { path, operation } of operations) {
        for (const code of codes) {
          t.ok(operation?.responses[problemTypes[code].status], `${start[1]!.toUpperCase()} ${path} declares ${problemTypes[code].status} (it can answer ${code})`)
          checked++
        }
      }
    }
  }
  t.ok(checked > 20, `${checked} problems sent by routes, each declared`)
  t.ok(paths['/events/stream']!.get!.responses['409'], 'the stream declares its 409 (feed-reset)')
})
