import { createServer, connect, type Server, type Socket } from 'node:net'
import t from 'tap'
import { createDatabase, postgresLeftOut } from '../helpers/postgres.js'
import { freePort } from '../helpers/redis.js'
import { eventually, startTestService } from '../helpers/service.js'

// The PostgreSQL primary goes away under a running service (simulated by a TCP proxy in front of the
// machine's server that drops every connection and refuses new ones): commands are refused with 503 +
// Retry-After, nothing half-recorded; when it is back the service recovers by itself and the commands
// resent with their keys are decided once.

/** A TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones refused) and restored. */
async function proxy(target: number) {
  const port = await freePort()
  const sockets = new Set<Socket>()
  let server: Server | null = null
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect(target, '127.0.0.1')
        for (const s of [client, upstream]) {
          sockets.add(s)
          s.on('close', () => sockets.delete(s))
          s.on('error', () => s.destroy())
        }
        client.pipe(upstream).pipe(client)
      }).listen(port, '127.0.0.1', () => resolve())
    })
  await listen()
  return {
    port,
    cut: async () => {
      // Connections first: a server closes only once its connections have ended.
      const closing = server
      server = null
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => (closing ? closing.close(() => resolve()) : resolve()))
    },
    restore: listen,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
    },
  }
}

t.test('the primary away: 503 and nothing recorded; back: the service recovers, resent commands are decided once', async (t) => {
  const leftOut = await postgresLeftOut()
  if (leftOut) return void t.plan(0, leftOut)
  const url = new URL(await createDatabase(t))
  const gate = await proxy(Number(url.port || 5432))
  t.teardown(() => gate.close())
  url.port = String(gate.port)
  const api = await startTestService(t, { env: { WAYBILL_DATABASE_URL: url.toString(), WAYBILL_REPLY_TIMEOUT_MS: '1000' } })
  t.equal((await api.command('PG-1', { type: 'REGISTER' }, { 'idempotency-key': 'k1' })).status, 201)

  await gate.cut()
  const refused = await api.command('PG-1', { type: 'ASSIGN', truckId: 'T1' }, { 'idempotency-key': 'k2' })
  t.equal(refused.status, 503, JSON.stringify(refused.body))
  t.equal(refused.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.ok(refused.headers['retry-after'])
  t.match(refused.body, { type: '/problems/unavailable', detail: /retry/ })
  t.equal((await api.request('GET', '/ready')).status, 503, 'not ready while the database is away')

  await gate.restore()
  const accepted = await eventually(async () => {
    const res = await api.command('PG-1', { type: 'ASSIGN', truckId: 'T1' }, { 'idempotency-key': 'k2' })
    return res.status === 503 ? undefined : res
  }, 30_000, 'the service to take commands again')
  t.equal(accepted.status, 200)
  t.equal((await api.command('PG-1', { type: 'ASSIGN', truckId: 'T1' }, { 'idempotency-key': 'k2' })).headers['idempotent-replayed'], 'true')
  t.match((await api.request('GET', '/shipments/PG-1')).body, { state: 'assigned', version: 2 }, 'decided once')
  await eventually(async () => ((await api.request('GET', '/ready')).status === 200 ? true : undefined), 30_000, 'ready again')
})
