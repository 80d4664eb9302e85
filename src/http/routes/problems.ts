import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { problem, problemTypes, sendProblem, type ProblemCode } from '../problems.js'
import { problems } from '../schemas.js'

/**
 * `type` of every problem answer is `/problems/<code>`; these routes make that URI resolve: JSON for
 * programs, a small HTML page for a person (by `Accept`). Public: they describe codes, not data.
 */
// Every code has one (a full Record): a new problem type does not compile until it is explained.
const explanations: Record<ProblemCode, string> = {
  'invalid-request': 'The request does not match the API: a field is missing, has the wrong type or format, or is not allowed. `errors` lists each violation with its path. Fix the request; sending it again unchanged will fail again.',
  'malformed-request': 'Not well-formed HTTP/1.1, refused by the HTTP parser before any route: e.g. both Content-Length and Transfer-Encoding (a request-smuggling pattern), an invalid header line or chunk size. Nothing was recorded and the connection is closed.',
  'malformed-json': 'The body could not be parsed as JSON. Nothing was recorded.',
  unauthorized: 'No `Authorization: Bearer <token>` header, or a token the service does not know (mistyped, or from another installation).',
  'token-revoked': 'The token was valid once and has been revoked by an administrator. The device needs a new token.',
  forbidden: "The token is valid, but its role (scanner, reviewer, admin) may not use this route.",
  'not-found': 'No such route, shipment, command, token or parked shipment; for time travel, the shipment did not exist at that version or time.',
  'shipment-not-found': 'A command other than REGISTER was sent for a shipment that was never registered (reason `not_found`). Register it first.',
  'truck-not-found': 'DEPART or RETURN for a truck that was never opened (reason `not_found`). OPEN it at its dock first. (Shipments may still be assigned to a truck id that was never opened: such a truck has no capacity and no departure.)',
  'not-acceptable': 'The route answers one media type only (the event stream: `text/event-stream`) and the `Accept` header excludes it.',
  'request-timeout': 'The whole request (headers and body) did not arrive within the request timeout (`WAYBILL_REQUEST_TIMEOUT_MS`). Nothing was recorded and the connection is closed; send it again.',
  'invalid-transition': "The shipment's state does not allow this command (reason `invalid_transition`); `allowed` lists what it does allow and `shipment` shows it as it was.",
  'already-registered': 'REGISTER for a shipment that already has events (reason `already_registered`).',
  'same-truck': 'ASSIGN to the truck the shipment is already assigned to (reason `same_truck`).',
  'truck-full': 'ASSIGN to an opened truck whose load already equals its capacity (reason `truck_full`). Assign the shipment to another truck, or UNASSIGN one from this truck first.',
  'truck-departed': 'ASSIGN to an opened truck that has departed, or UNASSIGN, CANCEL or reassign a shipment whose opened truck has departed with it (reason `truck_departed`). A shipment on a departed truck has shipped.',
  'awaiting-departure': "SHIP for a shipment on an opened truck (reason `awaiting_departure`): it ships, with everything else on the truck, when the truck departs (DEPART). `allowed` does not list SHIP.",
  'truck-already-open': 'OPEN for a truck that is already open (reason `already_registered`).',
  'feed-reset': 'The feed position to resume after (`after`, `Last-Event-ID`) is not in this installation\'s log: beyond its head, or inside the gap a restore from backup leaves so that no position is handed out twice. Nothing was skipped silently: resume after `resumeAfter` and expect events recorded since the backup to be missing.',
  'command-discarded': 'The command kept failing for an infrastructure reason, its shipment was parked, and an administrator discarded it (reason `discarded`). It had no effect.',
  'body-too-large': 'The body is larger than the route accepts (16 KiB; 1 MiB for POST /batches). Nothing was recorded.',
  'uri-too-long': 'A path segment (e.g. a shipment id) is longer than the router reads (100 characters); ids are at most 64.',
  'unsupported-media-type': 'The body must be sent as `Content-Type: application/json`.',
  'idempotency-key-reused': 'This `Idempotency-Key` was used before by this device for a different request. Retry with the identical body (same `scannedAt` too), or use a new key for a new scan.',
  'rate-limited': 'Too many requests from this token, too many failed authentications from this address, or (event stream) this token already holds `WAYBILL_MAX_STREAMS_PER_TOKEN` open streams. Wait `Retry-After` seconds.',
  'headers-too-large': 'The request headers are larger than the server reads (16 KiB in all). Nothing was recorded and the connection is closed.',
  'internal-error': 'A fault in the service. The body names the request id; the server log has the details.',
  unavailable: 'The service cannot take the request right now (overloaded, or the database is locked or full). Wait `Retry-After` seconds and send the same request again, with the same `Idempotency-Key`.',
}

const ProblemType = Type.Object(
  { type: Type.String(), code: Type.String(), status: Type.Integer(), title: Type.String(), description: Type.String() },
  { title: 'ProblemType' },
)

function describe(code: ProblemCode) {
  const { status, title } = problemTypes[code]
  return { type: `/problems/${code}`, code, status, title, description: explanations[code] }
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
const withCode = (text: string) => escapeHtml(text).replace(/`([^`]+)`/g, '<code>$1</code>')

function page(entry: ReturnType<typeof describe>): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(entry.title)}</title></head><body>
<h1>${escapeHtml(entry.title)}</h1><p>HTTP ${entry.status} · <code>${escapeHtml(entry.type)}</code></p><p>${withCode(entry.description)}</p>
<p><a href="/problems">All problem types</a></p></body></html>\n`
}

const wantsHtml = (accept: string | undefined) => /text\/html/.test(accept ?? '') && !/^application\/(problem\+)?json/.test(accept ?? '')

export const problemRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/problems',
    {
      config: { allow: 'public' },
      schema: { summary: 'Every problem type this service answers with', tags: ['problems'], response: { 200: Type.Object({ items: Type.Array(ProblemType) }) } },
    },
    async () => ({ items: (Object.keys(problemTypes) as ProblemCode[]).map(describe) }),
  )

  app.get(
    '/problems/:code',
    {
      config: { allow: 'public' },
      schema: {
        summary: 'What a problem type means (the `type` URI of an error answer); HTML for a browser',
        tags: ['problems'],
        params: Type.Object({ code: Type.String({ maxLength: 64, pattern: '^[a-z-]+$' }) }, { additionalProperties: false }),
        response: { 200: ProblemType, ...problems(404) },
      },
    },
    async (request, reply) => {
      const { code } = request.params
      if (!Object.hasOwn(problemTypes, code)) return sendProblem(reply, problem('not-found', `no problem type ${code}`))
      const entry = describe(code as ProblemCode)
      if (wantsHtml(request.headers.accept)) return reply.type('text/html; charset=utf-8').send(page(entry) as never)
      return entry
    },
  )
}
