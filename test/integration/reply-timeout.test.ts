import t from 'tap'
import { leasePartitionsElsewhere, startRedis } from '../helpers/redis.js'
import { http, startTestService, tempDir } from '../helpers/service.js'

// A command waits up to WAYBILL_REPLY_TIMEOUT_MS (at most 60 s) for its outcome, on a silent socket.
// No socket timeout of the server may end that wait: the request ends in its 202, never in a closed
// connection (a client that then retries without a key would send the command twice).
t.test('a reply timeout above every socket default still ends in 202', async (t) => {
  // Every partition is leased to an owner elsewhere that never decides: each command waits it out.
  const redis = await startRedis(t)
  const dataDir = tempDir(t)
  await leasePartitionsElsewhere(redis, dataDir)
  const replyTimeoutMs = 12_000
  const api = await startTestService(t, { redis, dataDir, http: true, env: { WAYBILL_REPLY_TIMEOUT_MS: String(replyTimeoutMs) } })
  const started = Date.now()
  const answer = await http(api.service.url!, 'POST', '/shipments/LONG-1/commands', { type: 'REGISTER' })
  const waited = Date.now() - started
  t.equal(answer.status, 202, `answered ${answer.status} after ${waited} ms`)
  t.match(answer.body, { commandId: String })
  t.ok(waited >= replyTimeoutMs - 50, `it waited the whole reply timeout (${waited} ms)`)
  t.equal(await api.service.storage.store.inbox.countPending(), 1, 'stored once')
})
