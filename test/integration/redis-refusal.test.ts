import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { doctor } from '../../src/operations/doctor.js'
import { PartitionQueues } from '../../src/queue/partition-queues.js'
import { probeRedis } from '../../src/queue/embedded-redis.js'
import { call, clientReady, createRedisClient, quit, RedisRefusedError, redisErrorReporter } from '../../src/queue/redis.js'
import { spawnWaybill } from '../helpers/process.js'
import { freePort } from '../helpers/redis.js'
import { bootstrapToken, eventually, tempDir, testConfig } from '../helpers/service.js'

// Something answers at REDIS_URL but refuses us (a password, a read-only replica): that is named as
// such (logs, doctor, start-up) and never mistaken for "not reachable", so `serve` does not try to
// start its own redis-server on the occupied port. Real redis-servers on free ports, never 6379.

/** A redis-server with extra arguments (e.g. --requirepass) on a free port; killed by pid at teardown. */
async function redisWith(t: { teardown(fn: () => unknown): void }, args: string[]): Promise<{ url: string; port: number }> {
  const port = await freePort()
  const dir = tempDir(t, 'waybill-redis-')
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args], { stdio: 'ignore' })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const url = `redis://127.0.0.1:${port}`
  for (let i = 0; (await probeRedis(url, 200)).state === 'absent'; i++) {
    if (i > 100) throw new Error(`redis-server did not start on ${port}`)
    await sleep(50)
  }
  return { url, port }
}

t.test('a probe tells "refuses us" (NOAUTH, WRONGPASS, READONLY) from "nothing answers" and "ok"', async (t) => {
  const locked = await redisWith(t, ['--requirepass', 'sekret'])
  const replica = await redisWith(t, ['--replicaof', '127.0.0.1', String(await freePort())])
  t.match(await probeRedis(locked.url), { state: 'refused', code: 'NOAUTH' }, 'no password')
  t.match(await probeRedis(`redis://:wrong@127.0.0.1:${locked.port}`), { state: 'refused', code: /^(WRONGPASS|NOAUTH)$/ }, 'a wrong password')
  t.match(await probeRedis(`redis://:sekret@127.0.0.1:${locked.port}`), { state: 'ok', version: /^\d+\./ }, 'the right password')
  t.match(await probeRedis(replica.url), { state: 'refused', code: 'READONLY' }, 'a read-only replica')
  t.match(await probeRedis(`redis://127.0.0.1:${await freePort()}`, 300), { state: 'absent' }, 'nothing listening')
})

t.test('the queues refuse to start at once with the reason, instead of waiting as if Redis were away', async (t) => {
  const locked = await redisWith(t, ['--requirepass', 'sekret'])
  const started = Date.now()
  const error = await PartitionQueues.connect({ redisUrl: locked.url, prefix: 'waybill-test', partitions: 2, stallIntervalMs: 5000 }, 5000).catch((e: unknown) => e)
  t.type(error, RedisRefusedError)
  t.match(error, { code: 'NOAUTH', message: /NOAUTH.*password in REDIS_URL/ })
  t.ok(Date.now() - started < 2500, `refused in ${Date.now() - started} ms, not after the 5 s connect timeout`)
})

t.test('serve does not start an embedded redis-server on a port where a Redis refuses it: one line, exit 2', async (t) => {
  const locked = await redisWith(t, ['--requirepass', 'sekret'])
  const replica = await redisWith(t, ['--replicaof', '127.0.0.1', String(await freePort())])
  for (const [why, url, code] of [['no password', locked.url, 'NOAUTH'], ['read-only replica', replica.url, 'READONLY']] as const) {
    const dataDir = tempDir(t)
    const child = spawnWaybill(t, ['serve'], {
      REDIS_URL: url,
      WAYBILL_DATA_DIR: dataDir,
      PORT: String(await freePort()),
      WAYBILL_BOOTSTRAP_TOKEN: bootstrapToken,
      WAYBILL_EMBEDDED_REDIS: 'auto',
    })
    t.equal(await child.exited, 2, `${why}: exit code 2`)
    const output = child.lines.join('\n')
    t.match(output, new RegExp(`^waybill: Redis at ${url.replace(/[./]/g, '\\$&')} answers but refuses this service.*${code}.*$`, 'm'), `${why}: named in one line`)
    t.notOk(output.includes('started embedded redis-server'), `${why}: no redis-server was started`)
    t.notOk(existsSync(join(dataDir, 'redis')), `${why}: nothing prepared for one`)
    t.notOk(child.lines.some((l) => /^\s+at /.test(l)), `${why}: no stack trace`)
  }
})

t.test('doctor names the refusal and what to do', async (t) => {
  const locked = await redisWith(t, ['--requirepass', 'sekret'])
  const replica = await redisWith(t, ['--replicaof', '127.0.0.1', String(await freePort())])
  const check = async (url: string) => (await doctor(testConfig({ REDIS_URL: url, WAYBILL_DATA_DIR: tempDir(t) }))).find((c) => c.name === 'redis')
  t.match(await check(locked.url), { status: 'fail', detail: /refuses this service: NOAUTH .*password in REDIS_URL/ })
  t.match(await check(replica.url), { status: 'fail', detail: /refuses this service: READONLY .*primary/ })
  t.match(await check(`redis://:sekret@127.0.0.1:${locked.port}`), { status: 'ok', detail: /answers \(redis \d/ })
})

t.test('Redis errors are logged: one line per kind (no stack), at most once per period, with a repeat count', async (t) => {
  const locked = await redisWith(t, ['--requirepass', 'sekret'])
  const lines: Array<{ obj: Record<string, unknown>; msg: string }> = []
  let now = 0
  const report = redisErrorReporter({ warn: (obj, msg) => lines.push({ obj: obj as Record<string, unknown>, msg }) }, 10_000, () => now)
  // Real errors from a real server: the ready check's NOAUTH arrives as an 'error' event.
  const client = createRedisClient(locked.url, 'commands', report)
  t.teardown(() => quit(client))
  await eventually(() => (lines.length === 1 ? true : undefined), 5000, "the commands client's NOAUTH")
  const failures: Error[] = []
  const raw = createRedisClient(locked.url, 'raw', undefined, { readyCheck: false })
  t.teardown(() => quit(raw))
  await clientReady(raw, 2000)
  for (let i = 0; i < 20; i++) failures.push(await call(1000, 'get', (done) => raw.get('k', done)).then(() => new Error('no error'), (e: Error) => e))
  t.ok(failures.every((e) => (e as { code?: string }).code === 'NOAUTH'), 'each failed call keeps its reply code')
  for (const error of failures) report(error, 'partition 0')
  t.equal(lines.length, 1, `one line for 21 NOAUTH errors in one period (${JSON.stringify(lines)})`)
  t.match(lines[0], { msg: 'redis refuses this service (NOAUTH)', obj: { redis: 'commands', code: 'NOAUTH', error: /NOAUTH/, fix: /password in REDIS_URL/ } })
  t.notOk(JSON.stringify(lines[0]).includes('    at '), 'no stack trace')
  now += 10_000
  report(failures[0]!, 'partition 1')
  t.equal(lines.length, 2)
  t.match(lines[1]!.obj, { redis: 'partition 1', repeated: 20 }, 'the next line counts what was left out')
  report(Object.assign(new Error('connection lost'), { code: 'ECONNRESET' }), 'subscriber')
  t.equal(lines.length, 3, 'another kind of error gets its own line')
  t.match(lines[2], { msg: 'redis error', obj: { code: 'ECONNRESET' } })
})
