import { setTimeout as sleep } from 'node:timers/promises'
import { createDatabase, postgresAvailable } from '../helpers/postgres.js'
import { installation, measure, type Installation, type Scope } from './installation.js'
import type { LoadResult } from './load.js'

/**
 * `npm run bench` section "postgres": the same request-reply load (REGISTER → ASSIGN → SHIP → DELIVER
 * on fresh shipments) against the embedded SQLite installation and against PostgreSQL installations
 * of 1, 2 and 3 `serve` processes (one database and one Redis each; the load's connections spread
 * evenly over the processes), measured alternately in one run so the ratios share its conditions. With
 * `baselines` (started only when PostgreSQL answers), they alternate too, and every row also gets
 * its ratio to each.
 */
export async function postgresBench(options: {
  seconds: number; rounds: number; connections: number; scope: Scope; note: (line: string) => void; baselines?: () => Promise<readonly Installation[]>
}): Promise<string[]> {
  const { seconds, rounds, connections, scope, note } = options
  if (!(await postgresAvailable())) return ['## PostgreSQL', '', 'skipped: no PostgreSQL server answers at 127.0.0.1:5432 (WAYBILL_TEST_POSTGRES names another)']
  const baselines = (await options.baselines?.()) ?? []
  const targets = [
    ...baselines,
    await installation(scope, 'SQLite, 1 process (the embedded default)', 1),
    await installation(scope, 'PostgreSQL, 1 process', 1, await createDatabase(scope)),
    await installation(scope, 'PostgreSQL, 2 processes', 2, await createDatabase(scope)),
    await installation(scope, 'PostgreSQL, 3 processes', 3, await createDatabase(scope)),
  ]
  note('postgres: warming up')
  for (const target of targets) await measure(target, 3, connections)
  const results = new Map<Installation, LoadResult[]>(targets.map((t) => [t, []]))
  for (let round = 1; round <= rounds; round++) {
    for (const target of targets) {
      note(`postgres round ${round}/${rounds}: ${target.name}`)
      results.get(target)!.push(await measure(target, seconds, connections))
      await sleep(500)
    }
  }
  for (const target of targets) await target.stop()
  const median = (xs: LoadResult[], f: (r: LoadResult) => number) => {
    const sorted = xs.map(f).sort((a, b) => a - b)
    return sorted[Math.floor(sorted.length / 2)]!
  }
  const rpsOf = (target: Installation) => median(results.get(target)!, (r) => r.rps)
  const sqlite = rpsOf(targets[baselines.length]!)
  const ratios = baselines.map(rpsOf)
  return [
    `## PostgreSQL: request-reply, ${connections} connections spread over the processes, fresh shipments REGISTER → ASSIGN → SHIP → DELIVER (median of ${rounds} alternating runs of ${seconds} s; CPU is the first process's and Redis's)`,
    '',
    `| installation | cmds/s | p50 ms | p99 ms | errors | vs SQLite |${baselines.map((b) => ` vs ${b.name} |`).join('')}`,
    `|---|---:|---:|---:|---:|---:|${ratios.map(() => '---:|').join('')}`,
    ...targets.map((target) => {
      const rs = results.get(target)!
      const rps = median(rs, (r) => r.rps)
      return `| ${target.name} | ${Math.round(rps)} | ${median(rs, (r) => r.p50).toFixed(1)} | ${median(rs, (r) => r.p99).toFixed(1)} | ${rs.reduce((n, r) => n + r.non2xx + r.errors, 0)} | ${(rps / sqlite).toFixed(2)}× |${ratios.map((b) => ` ${(rps / b).toFixed(2)}× |`).join('')}`
    }),
  ]
}
