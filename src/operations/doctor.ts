import { accessSync, constants, existsSync, statfsSync } from 'node:fs'
import semver from 'semver'
import { unknownVariables, type Config } from '../config.js'
import { supportedNode } from '../package-info.js'
import { findExecutable, probeRedis } from '../queue/embedded-redis.js'
import { call, clientReady, createRedisClient, quit, refusalAdvice } from '../queue/redis.js'
import { heartbeatScript, ownershipKeys } from '../queue/leases.js'
import { missingReviewHistory, reviewHistoryAdvice } from '../projections/review-queries.js'
import { openStore, projections } from '../storage.js'
import type { InstallationInfo } from '../store/installation.js'
import { missingMigrations } from '../store/migrate.js'
import { storeMigrations } from '../store/schema.js'
import type { Store } from '../store/store.js'

/**
 * `doctor`: what an IT person checks first — configuration, the data directory and its free space,
 * the database (SQLite: mode, migrations, a quick check; PostgreSQL: reachable, version, primary or
 * standby, migrations; both: what is waiting, whether the review read model covers the whole log),
 * Redis (or the embedded fallback) and Node. Each check is ok / warn / fail with the reason; any
 * fail makes the command exit non-zero.
 */
export interface Check {
  readonly name: string
  readonly status: 'ok' | 'warn' | 'fail'
  readonly detail: string
}

export async function doctor(config: Config, env: Record<string, string | undefined> = {}): Promise<Check[]> {
  const checks: Check[] = []
  const add = (name: string, status: Check['status'], detail: string) => checks.push({ name, status, detail })
  const unknown = unknownVariables(env)
  add('config', unknown.length ? 'warn' : 'ok', [`data ${config.databaseUrl ? 'PostgreSQL (WAYBILL_DATABASE_URL)' : config.dataDir}, redis ${config.redisUrl}, ${config.partitions} partitions, ${config.host}:${config.port}`, ...unknown].join('; '))
  // Secrets and test switches that must not stay on in production.
  const open = !/^(127\.|::1$|\[::1\]$|localhost$)/.test(config.host)
  if (config.bootstrapToken) {
    add('bootstrap', 'warn', `${open ? `WAYBILL_BOOTSTRAP_TOKEN IS SET WHILE THE API LISTENS ON ${config.host} (THE NETWORK)` : 'WAYBILL_BOOTSTRAP_TOKEN is set'}: an admin token for anyone who knows it; create real tokens, then remove it and restart`)
  }
  if (config.faults) add('faults', 'fail', `WAYBILL_FAULTS=${config.faults} is set: fault injection is for tests only; remove it`)

  const node = process.versions.node
  add('node', semver.satisfies(node, supportedNode) ? 'ok' : 'fail', `v${node} (supported: ${supportedNode}, package.json engines)`)

  if (!existsSync(config.dataDir)) {
    // On PostgreSQL the data directory holds only an embedded redis-server's files, made when one starts.
    if (config.databaseUrl) add('disk', 'ok', `${config.dataDir} does not exist: the data is in PostgreSQL (an embedded redis-server would create it)`)
    else add('disk', 'fail', `${config.dataDir}: does not exist (npm start creates it)`)
  } else {
    try {
      accessSync(config.dataDir, constants.W_OK)
      const fs = statfsSync(config.dataDir)
      const free = (fs.bavail * fs.bsize) / 2 ** 30
      add('disk', free < 1 ? 'warn' : 'ok', `${free.toFixed(1)} GiB free in ${config.dataDir}`)
    } catch (error) {
      add('disk', 'fail', `${config.dataDir}: ${(error as Error).message}`)
    }
  }

  let installation: (InstallationInfo & { prefix: string; oldestPendingAt: number | undefined }) | undefined
  const database = config.databaseUrl ? 'postgres' : 'sqlite'
  if (config.databaseUrl || existsSync(config.databaseFile)) {
    let store: Store | undefined
    try {
      store = await openStore(config, { mustExist: true })
      installation = { ...(await store.installation.info()), prefix: await store.installation.keyPrefix(), oldestPendingAt: await store.inbox.oldestWaitingAt() }
      const count = async (sql: string) => (await store!.sql.get<{ n: number }>(sql))!.n
      const counts = `${await count('SELECT count(*) AS n FROM events')} events, ${await count('SELECT count(*) AS n FROM shipments')} shipments, ${await count(`SELECT count(*) AS n FROM commands WHERE status = 'pending'`)} pending, ${await count('SELECT count(*) AS n FROM parked')} parked`
      const parked = (await count('SELECT count(*) AS n FROM parked')) > 0
      const missing = await missingMigrations(store.sql, [...storeMigrations, ...projections.flatMap((p) => p.migrations)])
      if (store.dialect === 'sqlite') {
        const mode = (await store.sql.get<{ journal_mode: string }>('PRAGMA journal_mode'))!.journal_mode
        const quick = (await store.sql.get<{ quick_check: string }>('PRAGMA quick_check'))!.quick_check
        const detail = `${mode}, quick_check ${quick}, ${await count('SELECT count(*) AS n FROM migrations')} migrations, ${counts}`
        add('sqlite', quick === 'ok' && mode === 'wal' && missing.length === 0 ? (parked ? 'warn' : 'ok') : 'fail', detail)
      } else {
        const version = (await store.sql.get<{ v: string }>('SELECT current_setting(\'server_version\') AS v'))!.v
        const standby = (await store.sql.get<{ s: boolean }>('SELECT pg_is_in_recovery() AS s'))!.s
        const detail = `${store.location}: PostgreSQL ${version}, ${standby ? 'a STANDBY (read-only): point WAYBILL_DATABASE_URL at the primary' : 'primary'}, ${missing.length === 0 ? 'migrations complete' : `missing migrations ${missing.join(', ')}`}, ${counts}`
        add('postgres', !standby && missing.length === 0 ? (parked ? 'warn' : 'ok') : 'fail', detail)
      }
      if (missing.length === 0) {
        const gap = await missingReviewHistory(store.sql)
        add('read models', gap ? 'warn' : 'ok', gap ? reviewHistoryAdvice(gap) : 'the review read model covers the whole log')
      }
    } catch (error) {
      add(database, 'fail', `${config.databaseUrl ? 'WAYBILL_DATABASE_URL' : config.databaseFile}: ${(error as Error).message}`)
    } finally {
      await store?.close()
    }
  } else {
    add('sqlite', 'warn', `${config.databaseFile} does not exist yet (created on first start)`)
  }

  const redis = await probeRedis(config.redisUrl, 2000)
  if (redis.state === 'ok') {
    add('redis', 'ok', `${config.redisUrl} answers (redis ${redis.version})`)
    if (installation) {
      const client = createRedisClient(config.redisUrl, 'doctor')
      try {
        await clientReady(client, 2000)
        await partitionsCheck(config, installation, client, add)
      } finally {
        await quit(client)
      }
    }
  } else if (redis.state === 'refused') {
    // Named, not "not reachable": an embedded redis-server will not be started on an occupied port.
    add('redis', 'fail', `${config.redisUrl} answers but refuses this service: ${redis.code} (${redis.detail}); ${refusalAdvice(redis.code)}`)
  } else {
    const binary = findExecutable('redis-server')
    if (config.embeddedRedis === 'auto' && binary) add('redis', 'warn', `nothing answers at ${config.redisUrl}; npm start will run ${binary} itself`)
    else add('redis', 'fail', `nothing answers at ${config.redisUrl} and no embedded redis-server can be started${binary ? '' : ' (install redis-server)'}`)
  }
  return checks
}

/** Who owns the installation's partitions (its own Redis key namespace) and how long commands wait. */
async function partitionsCheck(
  config: Config,
  installation: InstallationInfo & { prefix: string; oldestPendingAt: number | undefined },
  client: ReturnType<typeof createRedisClient>,
  add: (name: string, status: Check['status'], detail: string) => void,
): Promise<void> {
  const partitions = installation.partitions ?? config.partitions
  const keys = ownershipKeys(installation.prefix)
  const leaseMs = Math.max(1000, config.stallIntervalMs)
  const holders = await call<Array<string | null>>(2000, 'leases', (done) => client.mget(Array.from({ length: partitions }, (_, p) => keys.lease(p)), done))
  // Only looks (adds no heartbeat), by Redis's clock as the processes do.
  const [, live] = await call<[number, string[]]>(2000, 'processes', (done) => client.eval(heartbeatScript, 2, keys.processes, keys.workers, '', '', leaseMs + config.sweepIntervalMs, done))
  const unowned = holders.flatMap((holder, p) => (holder ? [] : [p]))
  const waited = installation.oldestPendingAt === undefined ? 0 : Date.now() - installation.oldestPendingAt
  const where = `installation ${installation.id}, ${partitions} partitions, ${live.length} live process(es)`
  if (installation.partitions !== null && installation.partitions !== config.partitions) {
    add('partitions', 'fail', `WAYBILL_PARTITIONS=${config.partitions} here, but the installation runs with ${installation.partitions}: set WAYBILL_PARTITIONS=${installation.partitions} (${where})`)
  } else if (unowned.length > 0) {
    add('partitions', live.length > 0 ? 'fail' : 'warn', `partitions ${unowned.join(',')} have no owner: their commands are not decided${live.length > 0 ? ' (every live process is at WAYBILL_MAX_PARTITIONS?)' : ' (no serve or worker is running)'}; ${where}`)
  } else if (waited > config.maxWaitMs) {
    add('partitions', 'warn', `the oldest undecided command has waited ${Math.round(waited / 1000)} s; ${where}`)
  } else {
    add('partitions', 'ok', `every partition has an owner; ${where}`)
  }
}
