import { join } from 'node:path'
import t from 'tap'
import { openStorage } from '../../src/storage.js'
import { checkHistory, History } from '../helpers/history.js'
import { spawnWaybill, untilHealthy, type WaybillProcess } from '../helpers/process.js'
import { freePort, startRedis } from '../helpers/redis.js'
import { runScanner, seeded } from '../helpers/scanners.js'
import { bootstrapToken, tempDir } from '../helpers/service.js'

// kill -9 of the service during a 2,000-command run over 50 shipments (≈6 % against the rules, ≈4 %
// repeated), once at each point: a cycle begun (nothing written), mid-transaction (events appended,
// not committed), after the commit (replies not sent, jobs not acknowledged), after a reply was sent,
// and once more from outside at a random moment. The scanners retry with their Idempotency-Keys;
// afterwards the history is checked against I1–I7 and the oracle.
t.test('nothing acknowledged is lost or doubled across five kill -9', async (t) => {
  const redis = await startRedis(t)
  const dataDir = tempDir(t)
  const port = await freePort()
  const env = {
    REDIS_URL: redis.url,
    WAYBILL_DATA_DIR: dataDir,
    PORT: String(port),
    WAYBILL_BOOTSTRAP_TOKEN: bootstrapToken,
    WAYBILL_RATE_LIMIT: '0',
    WAYBILL_EMBEDDED_REDIS: 'never',
    WAYBILL_STALL_INTERVAL_MS: '2000',
    WAYBILL_SWEEP_INTERVAL_MS: '200',
    WAYBILL_REPLY_TIMEOUT_MS: '1000',
    WAYBILL_LOG_LEVEL: 'warn',
  }
  const base = () => `http://127.0.0.1:${port}`
  const faults = ['crash:before-commit:150', 'crash:after-events:60', 'crash:after-commit:60', 'crash:after-reply:150', undefined, undefined]
  const kills: string[] = []
  let answered = 0
  let externalKill = false
  let current: WaybillProcess
  let stopping = false
  const start = async (spec: string | undefined) => {
    current = spawnWaybill(t, ['serve'], { ...env, ...(spec ? { WAYBILL_FAULTS: spec } : {}) })
    const me = current
    void me.exited.then((code) => {
      if (stopping || me !== current) return
      kills.push(`${spec ?? 'external kill -9'} (exit ${code}, after ${answered} answered)`)
      void start(faults[kills.length])
    })
    await untilHealthy(base(), me)
  }
  await start(faults[0])

  const history = new History()
  const random = seeded(20261127)
  const scanners = Array.from({ length: 50 }, (_, i) =>
    runScanner({
      base, shipmentId: `CR-${i}`, commands: 40, history, random,
      onAnswered: () => {
        answered++
        if (answered >= 1600 && kills.length === 4 && !externalKill) {
          externalKill = true
          void current.kill9()
        }
      },
    }),
  )
  await Promise.all(scanners)
  stopping = true
  await current!.stop()

  const storage = openStorage({ databaseFile: join(dataDir, 'waybill.db'), busyTimeoutMs: 1000, bootstrapToken: undefined })
  t.teardown(() => storage.close())
  const result = checkHistory(storage, history)
  t.comment(`kills: ${kills.join('; ')}`)
  t.comment(`history: ${JSON.stringify(result.stats)}`)
  t.equal(kills.length, 5, 'the service was killed five times')
  t.equal(new Set(history.attempts.map((a) => `${a.shipmentId}|${a.index}`)).size, 2000, '2,000 commands were sent')
  t.ok(result.stats.unanswered === 0, 'every command got an answer in the end')
  t.same(result.problems, [], 'the history satisfies I1–I7 and the oracle')
})
