import { existsSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { redisAnswers } from '../../src/queue/embedded-redis.js'
import { spawnWaybill, untilHealthy } from '../helpers/process.js'
import { freePort } from '../helpers/redis.js'
import { bootstrapToken, eventually, http, tempDir } from '../helpers/service.js'

// The embedded single-node default (WAYBILL_EMBEDDED_REDIS=auto): `serve` with no Redis answering at
// its local REDIS_URL starts a redis-server of its own (append-only file under <data>/redis/), starts
// it again when it dies, and stops it on SIGTERM. REDIS_URL is a free port, never the shared 6379.

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const startedPids = (lines: string[]): number[] =>
  lines.filter((l) => l.includes('"started embedded redis-server"')).map((l) => (JSON.parse(l) as { redisPid: number }).redisPid)

t.test('serve starts, restarts and stops its own redis-server when none answers', async (t) => {
  const redisUrl = `redis://127.0.0.1:${await freePort()}`
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const dataDir = tempDir(t)
  t.notOk(await redisAnswers(redisUrl), 'nothing answers at the free port before')
  const serve = spawnWaybill(t, ['serve'], {
    REDIS_URL: redisUrl,
    WAYBILL_DATA_DIR: dataDir,
    PORT: String(port),
    WAYBILL_BOOTSTRAP_TOKEN: bootstrapToken,
    WAYBILL_EMBEDDED_REDIS: 'auto',
    // Not about load shedding: on a loaded machine a fresh process's own start-up delays its event
    // loop past the 1 s default, and it would shed the first commands (503).
    WAYBILL_MAX_EVENT_LOOP_DELAY_MS: '60000',
  })
  // Whatever happens, no redis-server of this test outlives it.
  t.teardown(() => startedPids(serve.lines).forEach((pid) => alive(pid) && process.kill(pid, 'SIGKILL')))
  await untilHealthy(base, serve)

  const [first] = startedPids(serve.lines)
  t.ok(first && alive(first), 'a redis-server was started and runs')
  const started = serve.lines.find((l) => l.includes('"started embedded redis-server"'))!
  t.equal(started.match(/"pid":/g)?.length, 1, `one pid key in its log line (the service's; the server's is redisPid): ${started}`)
  t.ok(await redisAnswers(redisUrl), 'it answers at REDIS_URL')
  t.ok(existsSync(join(dataDir, 'redis', 'appendonlydir')), 'with its append-only file under <data>/redis/')
  const registered = await http(base, 'POST', '/shipments/EMB-1/commands', { type: 'REGISTER' })
  t.equal(registered.status, 201, `commands are decided through it: ${JSON.stringify(registered.body)}`)

  process.kill(first!, 'SIGKILL')
  await serve.waitFor(/embedded redis-server exited; restarting it/)
  const second = await eventually(() => startedPids(serve.lines)[1], 10_000, 'a second redis-server')
  t.not(second, first, 'a new redis-server replaced the dead one')
  const assigned = await eventually(async () => {
    const res = await http(base, 'POST', '/shipments/EMB-1/commands', { type: 'ASSIGN', truckId: 'T-1' }, { 'idempotency-key': 'emb-assign-1' })
    return res.status === 200 ? res : undefined
  }, 60_000, 'ASSIGN to be decided after the restart')
  t.match(assigned.body, { outcome: 'accepted', shipment: { state: 'assigned', truckId: 'T-1' } }, 'commands flow again')

  t.equal(await serve.stop(), 0, 'SIGTERM: exit code 0')
  t.notOk(alive(second), 'the embedded redis-server is stopped with the service')
})

t.test('no Redis and none to start: a one-line start-up error, exit code 2, nothing started', async (t) => {
  const silentLocal = `redis://127.0.0.1:${await freePort()}`
  const cases = [
    { why: 'serve, REDIS_URL on another host', args: ['serve'], url: 'redis://redis.invalid:6379', embedded: 'auto' },
    { why: 'serve, WAYBILL_EMBEDDED_REDIS=never', args: ['serve'], url: silentLocal, embedded: 'never' },
    // A worker joins an installation: its database must exist (`init`), then Redis is what it lacks.
    { why: 'worker (never starts one)', args: ['worker'], url: silentLocal, embedded: 'auto', init: true },
  ]
  for (const { why, args, url, embedded, init } of cases) {
    const dataDir = tempDir(t)
    if (init) t.equal(await spawnWaybill(t, ['init'], { WAYBILL_DATA_DIR: dataDir }).exited, 0, `${why}: database created`)
    const child = spawnWaybill(t, args, {
      REDIS_URL: url,
      WAYBILL_DATA_DIR: dataDir,
      PORT: String(await freePort()),
      WAYBILL_BOOTSTRAP_TOKEN: bootstrapToken,
      WAYBILL_EMBEDDED_REDIS: embedded,
    })
    t.equal(await child.exited, 2, `${why}: exit code 2`)
    const escaped = url.replace(/[./]/g, '\\$&')
    t.match(child.lines.join('\n'), new RegExp(`^waybill: no Redis answers at ${escaped}.*start it or point REDIS_URL at one$`, 'm'), `${why}: says so in one line`)
    t.notOk(child.lines.some((l) => /^\s+at /.test(l)), `${why}: no stack trace`)
    t.notOk(existsSync(join(dataDir, 'redis')), `${why}: no redis-server started`)
  }
})
