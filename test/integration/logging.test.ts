import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { startCluster } from '../helpers/cluster.js'
import { bootstrapToken, eventually, http } from '../helpers/service.js'

// Issue 11, item 9: what an operator reads in the journal of a real `waybill serve` at the default
// level (info). Every line is one JSON object with an ISO time; the probes a supervisor or load
// balancer sends every few seconds are not logged; a half-second Redis blip is a handful of one-line
// warnings, not dozens with stack traces. (One-line errors for listen failures, bad settings and
// `--after abc`: test/integration/installations.test.ts and test/cli.test.ts; the embedded
// redis-server's line: test/integration/embedded-redis.test.ts.)
t.setTimeout(180_000)

interface Line {
  readonly level: number
  readonly time: string
  readonly msg: string
  readonly req?: { url?: string }
  readonly url?: string
  readonly [key: string]: unknown
}

t.test('the journal of a serve at info', async (t) => {
  const cluster = await startCluster(t, { WAYBILL_LOG_LEVEL: 'info' })
  const serve = await cluster.serve()
  await serve.waitFor(/partition acquired/)
  const parsed = () => serve.lines.map((raw) => ({ raw, line: JSON.parse(raw) as Line }))

  t.test('every line is one JSON object with an ISO 8601 time', async (t) => {
    t.equal((await http(cluster.base, 'POST', '/shipments/LOG-1/commands', { type: 'REGISTER' })).status, 201)
    const lines = parsed()
    t.ok(lines.length > 3, `${lines.length} lines`)
    for (const { raw, line } of lines) {
      t.match(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, `ISO time: ${raw.slice(0, 80)}`)
      t.ok(Math.abs(Date.parse(line.time) - Date.now()) < 600_000, 'a real instant, now')
    }
  })

  t.test('health and readiness probes are not logged at info; other requests are', async (t) => {
    const before = serve.lines.length
    for (let i = 0; i < 5; i++) {
      t.equal((await http(cluster.base, 'GET', '/health', undefined, { authorization: '' })).status, 200)
      t.equal((await fetch(`${cluster.base}/ready`, { headers: { authorization: `Bearer ${bootstrapToken}` } })).status, 200)
    }
    t.equal((await http(cluster.base, 'POST', '/shipments/LOG-PROBES/commands', { type: 'REGISTER' })).status, 201)
    const requests = await eventually(() => {
      const lines = serve.lines.slice(before).map((raw) => JSON.parse(raw) as Line)
      return lines.some((l) => l.msg === 'command' && l.shipmentId === 'LOG-PROBES') ? lines : undefined
    }, 5_000, 'the command to be logged')
    t.same(requests.filter((l) => /^\/(health|ready)/.test(l.url ?? l.req?.url ?? '')).map((l) => l.msg), [], 'no line for the ten probes')
  })

  t.test('a 0.5 s Redis blip: a few one-line warnings, no stack traces', async (t) => {
    const before = serve.lines.length
    await cluster.redis.kill()
    await sleep(500)
    await cluster.redis.restart()
    await serve.waitFor(/redis connected/, 10_000).catch(() => undefined)
    // Long enough for every partition's lease round and the sweep to meet the blip's aftermath.
    await sleep(4_000)
    t.equal((await http(cluster.base, 'POST', '/shipments/LOG-2/commands', { type: 'REGISTER' })).status, 201, 'commands flow after it')
    const during = serve.lines.slice(before)
    const warnings = during.map((raw) => ({ raw, line: JSON.parse(raw) as Line })).filter(({ line }) => line.level >= 40)
    t.comment(`${during.length} lines, ${warnings.length} at warn or above: ${[...new Set(warnings.map((w) => w.line.msg))].join('; ')}`)
    t.ok(warnings.length > 0, 'the blip is logged')
    t.ok(warnings.length <= 10, `at most 10 warnings (${warnings.length})`)
    t.same(warnings.filter((w) => /\\n\s+at |"stack":/.test(w.raw)).map((w) => w.line.msg), [], 'none carries a stack trace')
  })
})
