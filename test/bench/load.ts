import { readFileSync } from 'node:fs'
import autocannon from 'autocannon'

/**
 * The load generator shared by every benchmark target: `connections` keep-alive connections, each
 * walking fresh shipments REGISTER → ASSIGN → SHIP → DELIVER, request-reply (each request waits for
 * its answer). Optionally capped at `rate` requests/s overall.
 */
export interface LoadResult {
  readonly requests: number
  readonly rps: number
  readonly p50: number
  readonly p99: number
  readonly non2xx: number
  readonly errors: number
  readonly cpuMsPerCommand: number
}

let run = 0

export async function load(options: { url: string; token: string; seconds: number; connections: number; rate?: number; pids: number[] }): Promise<LoadResult> {
  const prefix = `b${process.pid}-${run++}`
  let sequence = 0
  const step = (body: object, first = false) => ({
    method: 'POST' as const,
    setupRequest: (req: Record<string, unknown>, context: Record<string, unknown>) => {
      if (first) context.id = `${prefix}-${sequence++}`
      return { ...req, path: `/shipments/${String(context.id)}/commands`, body: JSON.stringify(body) }
    },
  })
  const cpuBefore = options.pids.map(cpuMs)
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.seconds,
    ...(options.rate ? { overallRate: options.rate } : {}),
    headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json' },
    requests: [step({ type: 'REGISTER' }, true), step({ type: 'ASSIGN', truckId: 'T1' }), step({ type: 'SHIP' }), step({ type: 'DELIVER' })] as never,
  })
  const cpu = options.pids.map(cpuMs).reduce((sum, after, i) => sum + after - cpuBefore[i]!, 0)
  const requests = result.requests.total
  return {
    requests,
    rps: requests / options.seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    cpuMsPerCommand: requests ? cpu / requests : 0,
  }
}

/** CPU time (user + system) a process has used so far, from /proc (Linux), in ms. */
export function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
  } catch {
    return 0
  }
}
