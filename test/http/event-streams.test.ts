import t from 'tap'
import { startCluster, type Cluster } from '../helpers/cluster.js'
import { runWaybill } from '../helpers/process.js'
import { eventually, http } from '../helpers/service.js'
import { openStream } from '../helpers/sse.js'

// Event streams end with the token that opened them, are capped per token, and never stay open
// silently after a failure. Real `waybill serve` processes, real connections, the real CLI.
// Not about load shedding: a loaded test machine must not turn requests into 503s here.
const calm = { WAYBILL_MAX_EVENT_LOOP_DELAY_MS: '60000' }

async function reviewerToken(cluster: Cluster, deviceId: string): Promise<{ token: string; tokenId: string }> {
  const created = await http(cluster.base, 'POST', '/admin/tokens', { deviceId, role: 'reviewer' })
  if (created.status !== 201) throw new Error(`token not created: ${created.status}`)
  return created.body
}

async function ready(stream: ReturnType<typeof openStream>): Promise<void> {
  const head = await stream.response
  if (head.status !== 200) throw new Error(`stream answered ${head.status}: ${JSON.stringify(head.body)}`)
  await eventually(() => (stream.messages.some((m) => m.event === 'ready') ? true : undefined), 10_000, 'the ready message')
}

t.test('revocation ends the streams of the token', async (t) => {
  const cluster = await startCluster(t, { ...calm, WAYBILL_LOG_LEVEL: 'info' })
  const serve = await cluster.serve()

  t.test('revoked through the admin route: at once', async (t) => {
    const { token, tokenId } = await reviewerToken(cluster, 'desk-1')
    const other = await reviewerToken(cluster, 'desk-2')
    const streams = [openStream(cluster.base, { token }), openStream(cluster.base, { token })]
    const bystander = openStream(cluster.base, { token: other.token })
    for (const s of [...streams, bystander]) await ready(s)
    t.equal((await http(cluster.base, 'POST', '/shipments/REV-1/commands', { type: 'REGISTER' })).status, 201)
    await eventually(() => (streams.every((s) => s.messages.some((m) => m.event === 'event')) ? true : undefined), 10_000, 'the event on both streams')

    const revokedAt = Date.now()
    t.equal((await http(cluster.base, 'DELETE', `/admin/tokens/${tokenId}`)).status, 200)
    const ends = await Promise.all(streams.map((s) => s.ended))
    for (const end of ends) t.ok(end.at - revokedAt < 1000, `the stream ended ${end.at - revokedAt} ms after the revocation (${end.how})`)
    const seen = streams.map((s) => s.messages.length)
    t.equal((await http(cluster.base, 'POST', '/shipments/REV-2/commands', { type: 'REGISTER' })).status, 201)
    await eventually(() => (bystander.messages.some((m) => m.data?.shipmentId === 'REV-2') ? true : undefined), 10_000, 'the other token’s stream to go on')
    t.same(streams.map((s) => s.messages.length), seen, 'nothing more reached the revoked token')
    const again = openStream(cluster.base, { token })
    t.match(await again.response, { status: 401, body: { type: '/problems/token-revoked' } }, 'and it cannot open a new one')
    bystander.close()
  })

  t.test('revoked by the CLI in another process: within a few seconds (the server re-checks every 500 ms)', async (t) => {
    const { token, tokenId } = await reviewerToken(cluster, 'desk-3')
    const stream = openStream(cluster.base, { token })
    await ready(stream)
    const started = Date.now()
    t.equal((await runWaybill(['tokens', 'revoke', tokenId], cluster.env)).code, 0)
    const revokedAt = Date.now()
    const end = await stream.ended
    // The CLI process itself takes a while to start on a loaded machine: counted from its exit. The
    // server re-checks every 500 ms; the bound leaves a loaded machine's timers room (a stream left
    // open until its socket's idle timeout or longer still fails).
    t.ok(end.at - revokedAt < 3000, `the stream ended ${end.at - revokedAt} ms after the CLI exited (${revokedAt - started} ms after it started; the server re-checks every 500 ms)`)
    await eventually(() => (serve.lines.some((l) => /ending event streams/.test(l) && l.includes(tokenId)) ? true : undefined), 5000, 'the log line')
  })
})

t.test('streams per token are capped', async (t) => {
  const cluster = await startCluster(t, { ...calm, WAYBILL_MAX_STREAMS_PER_TOKEN: '2' })
  await cluster.serve()
  const { token } = await reviewerToken(cluster, 'desk-cap')
  const first = [openStream(cluster.base, { token }), openStream(cluster.base, { token })]
  for (const s of first) await ready(s)
  const third = openStream(cluster.base, { token })
  const refused = await third.response
  t.equal(refused.status, 429)
  t.match(refused.type, /^application\/problem\+json/)
  t.match(refused.body, { type: '/problems/rate-limited', detail: /2 open event streams/ })
  const admin = openStream(cluster.base)
  await ready(admin)
  t.pass('another token is not affected')
  first[0]!.close()
  await eventually(async () => {
    const next = openStream(cluster.base, { token })
    const head = await next.response
    if (head.status === 200) return next
    return undefined
  }, 5000, 'a place once a stream closed')
  t.pass('a closed stream frees its place')
  for (const s of [...first, admin]) s.close()
})

t.test('a failure inside the pump closes the stream and is logged', async (t) => {
  // The first read of the log for a stream fails (injected): not a client gone, a server error.
  const cluster = await startCluster(t, { ...calm, WAYBILL_LOG_LEVEL: 'info', WAYBILL_FAULTS: 'fail:feed-read:1' })
  const serve = await cluster.serve()
  t.equal((await http(cluster.base, 'POST', '/shipments/PUMP-1/commands', { type: 'REGISTER' })).status, 201)
  const broken = openStream(cluster.base, { query: '?after=0' })
  t.equal((await broken.response).status, 200)
  const end = await Promise.race([broken.ended, new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000))])
  t.ok(end, 'the stream was closed, not left open and silent')
  t.notOk(broken.messages.some((m) => m.event === 'event'), 'nothing was delivered on it')
  await eventually(() => (serve.lines.some((l) => /"level":50/.test(l) && /event stream failed/.test(l) && /injected failure at feed-read/.test(l)) ? true : undefined), 5000, 'the error in the log')
  // The client resumes (the fault fired once): everything after its last id arrives.
  const resumed = openStream(cluster.base, { query: '?after=0' })
  await eventually(() => (resumed.messages.some((m) => m.data?.shipmentId === 'PUMP-1') ? true : undefined), 10_000, 'the event on the resumed stream')
  t.pass('a new stream delivers')
  resumed.close()
})
