import { bootstrapToken } from '../helpers/service.js'
import { installation, measure, type Scope } from './installation.js'
import type { LoadResult } from './load.js'

/**
 * `npm run bench` section "departure": a truck with 500 shipments on board departs while other
 * scanners keep working (request-reply on fresh shipments, as in the throughput section). Measured:
 * the time from the DEPART to its 200 (every shipment on the manifest shipped), and the other
 * scanners' throughput and p99 while it runs against the same length of time just before.
 */
const headers = { authorization: `Bearer ${bootstrapToken}`, 'content-type': 'application/json' }

async function post(url: string, path: string, body: unknown, extra: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { ...headers, ...extra }, body: JSON.stringify(body) })
  return { status: res.status, body: await res.json() }
}

export async function departureBench(options: { seconds: number; rounds: number; connections: number; scope: Scope; note: (line: string) => void; load?: number }): Promise<string[]> {
  const { rounds, connections, scope, note } = options
  const size = options.load ?? 500
  // Replies wait up to a minute here: the point is the time to the 200, not the 202 fallback.
  const target = await installation(scope, 'SQLite, 1 process', 1, undefined, { WAYBILL_REPLY_TIMEOUT_MS: '60000' })
  const url = target.urls[0]!
  note('departure: warming up')
  await measure(target, 3, connections)
  const rows: string[] = []
  for (let round = 1; round <= rounds; round++) {
    const truckId = `D${round}`
    note(`departure round ${round}/${rounds}: loading ${size} shipments on ${truckId}`)
    if ((await post(url, `/trucks/${truckId}/commands`, { type: 'OPEN', capacity: size })).status !== 201) throw new Error('OPEN failed')
    const items = Array.from({ length: size }, (_, i) => [
      { seq: 0, shipmentId: `${truckId}-${i}`, command: { type: 'REGISTER' } },
      { seq: 0, shipmentId: `${truckId}-${i}`, command: { type: 'ASSIGN', truckId } },
    ]).flat()
    const base = Date.now() * 10 + round * 1_000_000
    for (let from = 0; from < items.length; from += 1000) {
      const batch = items.slice(from, from + 1000).map((item, i) => ({ ...item, seq: base + from + i }))
      const res = await post(url, '/batches', { items: batch })
      if (res.status !== 200 || res.body.results.some((r: { status: number }) => r.status >= 300)) throw new Error(`loading ${truckId}: ${JSON.stringify(res.body).slice(0, 300)}`)
    }
    const window = Math.max(3, Math.round(options.seconds / 2))
    note(`departure round ${round}/${rounds}: ${window} s of other scanners, then the same with the DEPART`)
    const before: LoadResult = await measure(target, window, connections)
    const started = performance.now()
    const [during, departed] = await Promise.all([
      measure(target, window, connections),
      post(url, `/trucks/${truckId}/commands`, { type: 'DEPART' }).then((res) => ({ ...res, ms: performance.now() - started })),
    ])
    if (departed.status !== 200 || departed.body.truck.manifest.length !== size) throw new Error(`DEPART answered ${departed.status}: ${JSON.stringify(departed.body).slice(0, 300)}`)
    rows.push(
      `| ${round} | ${Math.round(departed.ms)} | ${Math.round(before.rps)} | ${Math.round(during.rps)} (${(during.rps / before.rps).toFixed(2)}×) | ${before.p99.toFixed(0)} → ${during.p99.toFixed(0)} | ${before.non2xx + before.errors + during.non2xx + during.errors} |`,
    )
  }
  await target.stop()
  return [
    `## Departure of a ${size}-shipment truck while ${connections} other connections keep scanning (SQLite, 1 process; ${rounds} rounds)`,
    '',
    '| round | DEPART → 200 (ms) | others before (cmds/s) | others during | others p99 before → during (ms) | errors |',
    '|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ]
}
