import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { loadConfig, type Config } from '../../src/config.js'
import { startService, type RunningService } from '../../src/service.js'
import { startRedis, type TestRedis } from './redis.js'

export const bootstrapToken = 'test-bootstrap-token-0123456789'

export function tempDir(t: { teardown(fn: () => unknown): void }, prefix = 'waybill-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export function testConfig(overrides: Record<string, string>): Config {
  return loadConfig({
    WAYBILL_BOOTSTRAP_TOKEN: bootstrapToken,
    WAYBILL_RATE_LIMIT: '0',
    WAYBILL_AUTH_FAILURE_LIMIT: '100000',
    WAYBILL_LOG_LEVEL: 'silent',
    WAYBILL_EMBEDDED_REDIS: 'never',
    WAYBILL_SWEEP_INTERVAL_MS: '200',
    // See cluster.ts: no shedding on event-loop delay unless a test asks for it.
    WAYBILL_MAX_EVENT_LOOP_DELAY_MS: '60000',
    PORT: '0',
    ...overrides,
  })
}

export interface TestService {
  readonly service: RunningService
  readonly redis: TestRedis
  readonly config: Config
  readonly dataDir: string
  /** JSON request through `app.inject`, authenticated with the bootstrap (admin) token by default. */
  request(method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<Response>
  /** Sends a command; resolves with status, body and headers. */
  command(shipmentId: string, body: unknown, headers?: Record<string, string>): Promise<Response>
}

export interface Response {
  readonly status: number
  readonly body: any
  readonly headers: Record<string, string | string[] | number | undefined>
}

/** A real service (HTTP via inject, worker, bee-queue on the test's own Redis, SQLite in a temp dir). */
export async function startTestService(
  t: { teardown(fn: () => unknown): void },
  options: { env?: Record<string, string>; redis?: TestRedis; dataDir?: string; http?: boolean; clock?: () => number } = {},
): Promise<TestService> {
  const redis = options.redis ?? (await startRedis(t))
  const dataDir = options.dataDir ?? tempDir(t)
  const config = testConfig({ REDIS_URL: redis.url, WAYBILL_DATA_DIR: dataDir, ...options.env })
  const service = await startService(config, { api: true, listen: options.http ?? false, logger: pino({ level: 'silent' }), ...(options.clock ? { clock: options.clock } : {}) })
  t.teardown(() => service.close())
  const request = async (method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> => {
    const response = await service.app!.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${bootstrapToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
    })
    const type = String(response.headers['content-type'] ?? '')
    return { status: response.statusCode, body: type.includes('json') && response.body ? response.json() : response.body, headers: response.headers }
  }
  return {
    service,
    redis,
    config,
    dataDir,
    request,
    command: (shipmentId, body, headers) => request('POST', `/shipments/${shipmentId}/commands`, body, headers),
  }
}

/** A JSON request over real HTTP (keep-alive sockets, real concurrency). */
export async function http(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${bootstrapToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  return { status: res.status, body: text && /json/.test(res.headers.get('content-type') ?? '') ? JSON.parse(text) : text, headers: Object.fromEntries(res.headers) }
}

/**
 * A command over real HTTP sent the way a scanner sends it: a 503 or 429 (nothing was recorded) is
 * retried after its Retry-After (at most 1 s) until `ms` have passed. With `expected`, any other
 * status fails loudly, so a test's setup never goes on from a command that did not happen.
 */
export async function scan(
  base: string,
  shipmentId: string,
  body: unknown,
  options: { headers?: Record<string, string>; expected?: number; ms?: number } = {},
): Promise<Response> {
  const deadline = Date.now() + (options.ms ?? 30_000)
  for (;;) {
    const res = await http(base, 'POST', `/shipments/${shipmentId}/commands`, body, options.headers)
    if ((res.status === 503 || res.status === 429) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, Number(res.headers['retry-after'] ?? 1) * 1000) * (0.5 + Math.random() / 2)))
      continue
    }
    if (options.expected !== undefined && res.status !== options.expected) {
      throw new Error(`${shipmentId} ${JSON.stringify(body)}: expected ${options.expected}, got ${res.status} ${JSON.stringify(res.body)}`)
    }
    return res
  }
}

/** Polls `check` until it returns a value other than undefined, or fails after `ms`. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, ms = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
