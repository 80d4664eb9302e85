import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'

/**
 * What the service logs per request, in place of Fastify's two info lines (incoming, completed):
 * a route that writes its own line — a command's `command` line, a batch's `batch` line — marks the
 * request (`answerLogged`) and nothing else is written for it at info; a refused request (4xx/5xx)
 * gets one `request refused` line at info; a request's start and end are at debug. A route's own
 * `logLevel` (the health probes: warn) still silences its lines.
 */
export class RequestLog extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    if (logs(request.log, 'debug')) request.log.debug({ method: request.method, url: request.url, remoteAddress: request.ip }, 'incoming request')
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) {
      reply.log.error({ method: request.method, url: request.url, statusCode: reply.statusCode, err: error, ms: round(reply.elapsedTime) }, 'request errored')
      return
    }
    if (request.answerLogged) return
    const refused = reply.statusCode >= 400
    const level = refused ? 'info' : 'debug'
    if (logs(reply.log, level)) {
      reply.log[level]({ method: request.method, url: request.url, statusCode: reply.statusCode, ms: round(reply.elapsedTime) }, refused ? 'request refused' : 'request completed')
    }
  }
}

/** Milliseconds to a tenth: what a log line needs. */
export const round = (ms: number): number => Math.round(ms * 10) / 10

/** Whether a line at `level` would be written (no line's fields are built for nothing); false without a logger. */
export function logs(log: FastifyBaseLogger, level: 'debug' | 'info'): boolean {
  return (log as Partial<Logger>).isLevelEnabled?.(level) ?? false
}
