import { accessSync, constants, existsSync, statfsSync } from 'node:fs'
import type { Config } from '../config.js'
import { findExecutable, redisAnswers } from '../queue/embedded-redis.js'
import { call, clientReady, createRedisClient, quit } from '../queue/redis.js'
import { openStorage } from '../storage.js'

/**
 * `doctor`: what an IT person checks first — configuration, the data directory and its free space,
 * SQLite (mode, migrations, a quick check, what is waiting), Redis (or the embedded fallback) and
 * Node. Each check is ok / warn / fail with the reason; any fail makes the command exit non-zero.
 */
export interface Check {
  readonly name: string
  readonly status: 'ok' | 'warn' | 'fail'
  readonly detail: string
}

export async function doctor(config: Config): Promise<Check[]> {
  const checks: Check[] = []
  const add = (name: string, status: Check['status'], detail: string) => checks.push({ name, status, detail })
  add('config', 'ok', `data ${config.dataDir}, redis ${config.redisUrl}, ${config.partitions} partitions, port ${config.port}`)

  const [major] = process.versions.node.split('.').map(Number)
  add('node', major === 20 || (major ?? 0) >= 22 ? 'ok' : 'fail', `v${process.versions.node}`)

  try {
    if (!existsSync(config.dataDir)) throw new Error('does not exist (npm start creates it)')
    accessSync(config.dataDir, constants.W_OK)
    const fs = statfsSync(config.dataDir)
    const free = (fs.bavail * fs.bsize) / 2 ** 30
    add('disk', free < 1 ? 'warn' : 'ok', `${free.toFixed(1)} GiB free in ${config.dataDir}`)
  } catch (error) {
    add('disk', 'fail', `${config.dataDir}: ${(error as Error).message}`)
  }

  if (existsSync(config.databaseFile)) {
    try {
      const storage = openStorage(config)
      try {
        const db = storage.db
        const mode = String(db.pragma('journal_mode', { simple: true }))
        const quick = String(db.pragma('quick_check', { simple: true }))
        const count = (sql: string) => db.prepare(sql).pluck().get() as number
        const detail = `${mode}, quick_check ${quick}, ${count('SELECT count(*) FROM migrations')} migrations, ${count('SELECT count(*) FROM events')} events, ${count('SELECT count(*) FROM shipments')} shipments, ${count(`SELECT count(*) FROM commands WHERE status = 'pending'`)} pending, ${count('SELECT count(*) FROM parked')} parked`
        add('sqlite', quick === 'ok' && mode === 'wal' ? (count('SELECT count(*) FROM parked') > 0 ? 'warn' : 'ok') : 'fail', detail)
      } finally {
        storage.close()
      }
    } catch (error) {
      add('sqlite', 'fail', `${config.databaseFile}: ${(error as Error).message}`)
    }
  } else {
    add('sqlite', 'warn', `${config.databaseFile} does not exist yet (created on first start)`)
  }

  if (await redisAnswers(config.redisUrl)) {
    const client = createRedisClient(config.redisUrl, 'doctor')
    try {
      await clientReady(client, 2000)
      await call<unknown>(2000, 'info', (done) => client.info('server', done))
      const version = (client as unknown as { server_info?: { redis_version?: string } }).server_info?.redis_version ?? '?'
      add('redis', 'ok', `${config.redisUrl} answers (redis ${version})`)
    } finally {
      await quit(client)
    }
  } else {
    const binary = findExecutable('redis-server')
    if (config.embeddedRedis === 'auto' && binary) add('redis', 'warn', `nothing answers at ${config.redisUrl}; npm start will run ${binary} itself`)
    else add('redis', 'fail', `nothing answers at ${config.redisUrl} and no embedded redis-server can be started${binary ? '' : ' (install redis-server)'}`)
  }
  return checks
}
