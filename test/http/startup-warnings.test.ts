import { Writable } from 'node:stream'
import { pino } from 'pino'
import t from 'tap'
import { startService } from '../../src/service.js'
import { startRedis } from '../helpers/redis.js'
import { tempDir, testConfig } from '../helpers/service.js'

// While WAYBILL_BOOTSTRAP_TOKEN is set every start says so: a warning on this machine only, an error
// when the API listens on the network.

t.test('the bootstrap token is warned about at start-up, loudly on the network', async (t) => {
  const redis = await startRedis(t)
  for (const [host, level, pattern] of [
    ['127.0.0.1', 40, /WAYBILL_BOOTSTRAP_TOKEN is set: an admin token for anyone on this machine/],
    ['0.0.0.0', 50, /WAYBILL_BOOTSTRAP_TOKEN IS SET WHILE THE API LISTENS ON 0\.0\.0\.0/],
  ] as const) {
    const lines: Array<{ level: number; msg: string }> = []
    const logger = pino({ level: 'warn' }, new Writable({ write: (chunk, _, done) => (lines.push(JSON.parse(String(chunk))), done()) }))
    const service = await startService(testConfig({ REDIS_URL: redis.url, WAYBILL_DATA_DIR: tempDir(t), HOST: host }), { api: true, listen: false, logger })
    await service.close()
    t.ok(lines.some((l) => l.level === level && pattern.test(l.msg)), `HOST=${host}: logged at level ${level}`)
  }
})
