import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
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

export interface LoadOptions {
  readonly url: string
  readonly token: string
  readonly seconds: number
  readonly connections: number
  /** Cap on requests per second overall. */
  readonly rate?: number
  /** Processes whose CPU time is charged to the commands. */
  readonly pids: number[]
  /** Instead of fresh shipments: ASSIGN then UNASSIGN random existing ones `S0`…`S<n-1>`. */
  readonly existing?: number
}

export async function load(options: LoadOptions): Promise<LoadResult> {
  const prefix = `b${process.pid}-${run++}`
  let sequence = 0
  const step = (body: object, first = false) => ({
    method: 'POST' as const,
    setupRequest: (req: Record<string, unknown>, context: Record<string, unknown>) => {
      if (first) context.id = options.existing ? `S${Math.floor(Math.random() * options.existing)}` : `${prefix}-${sequence++}`
      return { ...req, path: `/shipments/${String(context.id)}/commands`, body: JSON.stringify(body) }
    },
  })
  const walk = options.existing
    ? [step({ type: 'ASSIGN', truckId: 'T9' }, true), step({ type: 'UNASSIGN' })]
    : [step({ type: 'REGISTER' }, true), step({ type: 'ASSIGN', truckId: 'T1' }), step({ type: 'SHIP' }), step({ type: 'DELIVER' })]
  const cpuBefore = options.pids.map(cpuMs)
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.seconds,
    ...(options.rate ? { overallRate: options.rate } : {}),
    headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json' },
    requests: walk as never,
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

/** Resident memory of a process, from /proc (Linux), in MiB. */
export function rssMiB(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))
    return Number(line?.split(/\s+/)[1] ?? 0) / 1024
  } catch {
    return 0
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

/**
 * Open-loop load at a fixed rate (what "latency at N commands/s" means): a request is sent every
 * 1/rate seconds whatever the answers do, over a keep-alive pool, walking fresh shipments; latency
 * is measured per request from send to full answer.
 */
export async function paced(options: { url: string; token: string; seconds: number; rate: number; pids: number[] }): Promise<LoadResult> {
  const { Agent, request } = await import('node:http')
  const agent = new Agent({ keepAlive: true, maxSockets: 64 })
  const target = new URL(options.url)
  const latencies: number[] = []
  let failures = 0
  let non2xx = 0
  const steps = [{ type: 'REGISTER' }, { type: 'ASSIGN', truckId: 'T1' }, { type: 'SHIP' }, { type: 'DELIVER' }]
  const prefix = `p${process.pid}-${run++}`
  const send = (n: number) =>
    new Promise<void>((resolve) => {
      const body = JSON.stringify(steps[n % 4])
      const started = performance.now()
      const req = request(
        {
          agent, host: target.hostname, port: target.port, method: 'POST', path: `/shipments/${prefix}-${Math.floor(n / 4) % 50}-${Math.floor(n / 200)}/commands`,
          headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume()
          res.on('end', () => {
            latencies.push(performance.now() - started)
            if (res.statusCode! >= 300) non2xx++
            resolve()
          })
        },
      )
      req.on('error', () => {
        failures++
        resolve()
      })
      req.end(body)
    })
  // Shipment k of a 200-request block gets its 4 commands 50 requests (100 ms at 500/s) apart, in order.
  const order = (i: number) => {
    const block = Math.floor(i / 200)
    const j = i % 200
    return block * 200 + (j % 50) * 4 + Math.floor(j / 50)
  }
  const cpuBefore = options.pids.map(cpuMs)
  const total = Math.round(options.rate * options.seconds)
  const start = performance.now()
  const inflight: Promise<void>[] = []
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / options.rate
    const wait = due - performance.now()
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait))
    inflight.push(send(order(i)))
  }
  await Promise.all(inflight)
  agent.destroy()
  const cpu = options.pids.map(cpuMs).reduce((sum, after, i) => sum + after - cpuBefore[i]!, 0)
  latencies.sort((a, b) => a - b)
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0
  return { requests: latencies.length, rps: latencies.length / options.seconds, p50: q(0.5), p99: q(0.99), non2xx, errors: failures, cpuMsPerCommand: cpu / Math.max(1, latencies.length) }
}

/**
 * Offline batches: `connections` devices' uploads at once, each posting `items`-item batches one after
 * the other (fresh shipments, REGISTER → ASSIGN → SHIP → DELIVER each, numbered by one device's seq
 * counter). `rps` counts items answered 200/201; p50/p99 are whole-batch latencies.
 */
export async function batchLoad(options: { url: string; token: string; seconds: number; connections: number; items: number; pids: number[] }): Promise<LoadResult & { batches: number; refused: number }> {
  const { Agent, request } = await import('node:http')
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections })
  const target = new URL(options.url)
  const prefix = `q${process.pid}-${run++}`
  const steps = [{ type: 'REGISTER' }, { type: 'ASSIGN', truckId: 'T1' }, { type: 'SHIP' }, { type: 'DELIVER' }]
  let seq = Number(process.hrtime.bigint() % 1_000_000_000n) * 1000
  let shipment = 0
  const latencies: number[] = []
  let accepted = 0
  let non2xx = 0
  let failures = 0
  let refused = 0
  const post = (body: string) =>
    new Promise<{ status: number; text: string; retryAfter: number }>((resolve, reject) => {
      const req = request(
        { agent, host: target.hostname, port: target.port, method: 'POST', path: '/batches', headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => (text += chunk))
          res.on('end', () => resolve({ status: res.statusCode!, text, retryAfter: Number(res.headers['retry-after']) || 1 }))
        },
      )
      req.on('error', reject)
      req.end(body)
    })
  const cpuBefore = options.pids.map(cpuMs)
  const end = performance.now() + options.seconds * 1000
  await Promise.all(
    Array.from({ length: options.connections }, async () => {
      while (performance.now() < end) {
        const items = Array.from({ length: options.items }, (_, i) => ({ seq: ++seq, shipmentId: `${prefix}-${shipment + Math.floor(i / 4)}`, command: steps[i % 4] }))
        shipment += Math.ceil(options.items / 4)
        const body = JSON.stringify({ items })
        const started = performance.now()
        try {
          let res = await post(body)
          // Admission control: a scanner app waits as told (Retry-After) and sends the same batch again.
          while (res.status === 503 && performance.now() < end) {
            refused++
            await sleep(res.retryAfter * 1000)
            res = await post(body)
          }
          if (res.status === 503) break
          latencies.push(performance.now() - started)
          if (res.status !== 200) {
            non2xx++
            continue
          }
          const results = (JSON.parse(res.text) as { results: Array<{ status: number }> }).results
          accepted += results.filter((r) => r.status === 200 || r.status === 201).length
          non2xx += results.filter((r) => r.status !== 200 && r.status !== 201).length
        } catch {
          failures++
        }
      }
    }),
  )
  agent.destroy()
  const cpu = options.pids.map(cpuMs).reduce((sum, after, i) => sum + after - cpuBefore[i]!, 0)
  latencies.sort((a, b) => a - b)
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0
  return { requests: accepted, rps: accepted / options.seconds, p50: q(0.5), p99: q(0.99), non2xx, errors: failures, cpuMsPerCommand: cpu / Math.max(1, accepted), batches: latencies.length, refused }
}
