#!/usr/bin/env node
import { accessSync, constants, existsSync } from 'node:fs'
import { Command, Option } from 'commander'
import { roles, type Role } from './auth/tokens.js'
import type { Config } from './config.js'
import { packageVersion } from './package-info.js'
import type { Storage } from './storage.js'

/**
 * `waybill` — the service and its operations. Data goes to stdout (JSON / NDJSON / text tables),
 * progress and logs to stderr; a non-zero exit code means the command failed or found problems (2: an
 * operator's error, said in one line).
 *
 * Every module beyond commander is imported by the subcommand that needs it, so `--help` and small
 * commands start fast (the service, Fastify, bee-queue and the machine load only for `serve`).
 */

class CliError extends Error {
  override readonly name = 'CliError'
}

const loadDotEnv = () => existsSync('.env') && process.loadEnvFile('.env')

async function config(): Promise<Config> {
  loadDotEnv()
  const { loadConfig, unknownVariables } = await import('./config.js')
  const cfg = loadConfig(process.env)
  for (const warning of unknownVariables(process.env)) process.stderr.write(`waybill: warning: ${warning}\n`)
  return cfg
}

/**
 * Runs `work` on the installation's storage. The database must exist: only `init` (and `serve`, on
 * its first start) create one, so a wrong WAYBILL_DATA_DIR is an error, never a new empty installation.
 */
async function withStorage<T>(work: (storage: Storage, config: Config) => T | Promise<T>): Promise<T> {
  const cfg = await config()
  const { openStorage } = await import('./storage.js')
  const storage = await openStorage(cfg, Date.now, { mustExist: true })
  try {
    return await work(storage, cfg)
  } finally {
    await storage.close()
  }
}

/**
 * Like withStorage, for writers that bypass the service (fencing, inbox): refused while any process
 * serves the database, and holding it against a serve starting meanwhile.
 */
async function withExclusive<T>(work: (storage: Storage, config: Config) => Promise<T>): Promise<T> {
  return withStorage(async (storage, cfg) => {
    const lock = await storage.store.holdExclusive()
    try {
      return await work(storage, cfg)
    } finally {
      await lock.release()
    }
  })
}

const out = (value: unknown): void => void process.stdout.write(`${typeof value === 'string' ? value : JSON.stringify(value, null, 2)}\n`)

/** Rows as an aligned text table (the default view for people; `--json` for programs). */
function table(items: readonly object[], columns: readonly string[]): string {
  const rows = items as ReadonlyArray<Record<string, unknown>>
  const text = (v: unknown) => (v === null || v === undefined ? '-' : String(v))
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => text(r[c]).length)))
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => text(r[c]))))].join('\n')
}

/** A non-negative integer option (`--after abc` is an error naming the option, not NaN). */
function position(name: string): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new CliError(`${name} must be a whole number ≥ 0, not '${value}'`)
    return Number(value)
  }
}

async function run(api: boolean): Promise<void> {
  const cfg = await config()
  const [{ createLogger, startService }, { ensureRedis, RedisMissingError }, { RedisUnavailableError }, closeWithGrace] = await Promise.all([
    import('./service.js'),
    import('./queue/embedded-redis.js'),
    import('./queue/redis.js'),
    import('close-with-grace').then((m) => m.default),
  ])
  const log = createLogger(cfg)
  // `serve` creates the database on its first start (the systemd unit needs no extra step); a `worker`
  // joins an existing installation and refuses a data directory without one.
  if (!api && !cfg.databaseUrl && !existsSync(cfg.databaseFile)) throw new CliError(`no database at ${cfg.databaseFile} (check WAYBILL_DATA_DIR; \`waybill serve\` or \`waybill init\` creates it)`)
  // `serve` makes sure a Redis answers (starting its own if allowed); a `worker` needs one running.
  const redis = api ? await ensureRedis({ url: cfg.redisUrl, dataDir: cfg.dataDir, mode: cfg.embeddedRedis, log }) : null
  const service = await startService(cfg, { api, logger: log }).catch(async (error: unknown) => {
    await redis?.stop()
    throw error instanceof RedisUnavailableError ? new RedisMissingError(`no Redis answers at ${cfg.redisUrl} (${error.message}); start it or point REDIS_URL at one`) : error
  })
  closeWithGrace({ delay: 10_000, logger: log }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'shutting down after an error')
    else log.info({ signal }, 'shutting down')
    await service.close()
    await redis?.stop()
  })
}

const program = new Command('waybill')
  .version(packageVersion)
  .description('Event-sourced shipment processor for a depot')
  .showHelpAfterError()

program
  .command('init')
  .description('create the database in WAYBILL_DATA_DIR (the only command besides serve that creates one)')
  .option('--new-id', 'give an existing database (a copy) a new installation id, to run it beside the original on one Redis')
  .action(async (options: { newId?: boolean }) => {
    const cfg = await config()
    const { openStore } = await import('./storage.js')
    const existed = cfg.databaseUrl ? null : existsSync(cfg.databaseFile)
    const store = await openStore(cfg)
    try {
      if (options.newId) await store.installation.renewId()
      const info = await store.installation.info()
      out({ database: cfg.databaseUrl ? store.location : cfg.databaseFile, ...(existed === null ? {} : { created: !existed }), installation: info.id })
      if (existed && !options.newId) process.stderr.write(`${cfg.databaseFile} exists already; nothing changed\n`)
    } finally {
      await store.close()
    }
  })

program.command('serve').description('run the HTTP API and a worker in one process (creates the database on its first start)').action(() => run(true))
program.command('worker').description('run an extra worker process against the same data directory and Redis').action(() => run(false))

/** Warns when a device has several active tokens (usually a rotation not finished: revoke the old one). */
function warnSeveralActive(tokens: ReadonlyArray<{ deviceId: string; revokedAt: string | null }>, only?: string): void {
  const active = new Map<string, number>()
  for (const t of tokens) if (t.revokedAt === null) active.set(t.deviceId, (active.get(t.deviceId) ?? 0) + 1)
  for (const [device, count] of active) {
    if (count > 1 && (only === undefined || only === device)) {
      process.stderr.write(`warning: device ${device} has ${count} active tokens; finish the rotation with \`waybill tokens revoke <old tokenId>\`\n`)
    }
  }
}

const tokens = program.command('tokens').description('device tokens: create, list, revoke')
tokens
  .command('create')
  .description('create a token; the secret is printed once (store it in the device now)')
  .requiredOption('--device <deviceId>', 'the device (recorded with every command it sends)')
  .addOption(new Option('--role <role>', 'what it may do').choices(roles).makeOptionMandatory())
  .option('--label <text>', 'a note for the token list')
  .action((options: { device: string; role: Role; label?: string }) =>
    withStorage(async (storage) => {
      const { token, info } = await storage.tokens.create({ deviceId: options.device, role: options.role, label: options.label })
      out({ token, ...info })
      process.stderr.write('The token is shown only this once: put it in the device now.\n')
      warnSeveralActive(await storage.tokens.list(), options.device)
    }),
  )
tokens
  .command('list')
  .description('list tokens (never their secrets) as a table')
  .option('--json', 'as JSON')
  .option('--active', 'only tokens not revoked')
  .action((options: { json?: boolean; active?: boolean }) =>
    withStorage(async (storage) => {
      const list = (await storage.tokens.list()).filter((t) => !options.active || t.revokedAt === null)
      out(options.json ? list : table(list, ['tokenId', 'deviceId', 'role', 'label', 'createdAt', 'lastSeenAt', 'revokedAt']))
      warnSeveralActive(list)
    }),
  )
tokens
  .command('revoke [tokenId]')
  .description('revoke a token, or with --device every active token of a device (effective immediately)')
  .option('--device <deviceId>', 'revoke every active token of this device (a lost handheld)')
  .action((tokenId: string | undefined, options: { device?: string }) =>
    withStorage(async (storage) => {
      if ((tokenId === undefined) === (options.device === undefined)) throw new CliError('name a tokenId or --device <deviceId> (one of them)')
      const ids = tokenId !== undefined ? [tokenId] : (await storage.tokens.list()).filter((t) => t.deviceId === options.device && t.revokedAt === null).map((t) => t.tokenId)
      if (ids.length === 0) throw new CliError(`no active token of device ${options.device}`)
      const revoked: string[] = []
      for (const id of ids) if (await storage.tokens.revoke(id)) revoked.push(id)
      if (revoked.length === 0) throw new CliError(`no active token ${tokenId}`)
      out(tokenId !== undefined ? await storage.tokens.get(tokenId) : await Promise.all(revoked.map((id) => storage.tokens.get(id))))
    }),
  )

const parked = program.command('parked').description('shipments parked because a command kept failing (dead letters)')
parked
  .command('list')
  .description('parked shipments as a table')
  .option('--json', 'as JSON')
  .action((options: { json?: boolean }) =>
    withStorage(async (storage) => {
      const list = (await storage.store.parking.list()).map(({ streamId, ...rest }) => ({ shipmentId: streamId, ...rest }))
      out(options.json ? list : list.length ? table(list, ['shipmentId', 'commandId', 'type', 'attempts', 'waiting', 'parkedAt', 'error']) : 'nothing is parked')
    }),
  )
parked
  .command('retry <shipmentId>')
  .description('unpark a shipment: its command is tried again (by the running worker within a sweep interval)')
  .action((shipmentId: string) =>
    withStorage(async (storage) => {
      const result = await storage.store.parking.retry(shipmentId)
      if (!result) throw new CliError(`shipment ${shipmentId} is not parked`)
      out(result)
    }),
  )
parked
  .command('discard <shipmentId>')
  .description("discard a parked shipment's failing command: it becomes a rejection (reason discarded) and the shipment moves on")
  .action((shipmentId: string) =>
    withStorage(async (storage) => {
      const result = await storage.store.parking.discard(shipmentId, 'cli', Date.now())
      if (!result) throw new CliError(`shipment ${shipmentId} is not parked`)
      out(result)
    }),
  )

program
  .command('replay <id>')
  .description("print a shipment's (or with --truck a truck's) state after each of its events, replayed through its machine")
  .option('--truck', 'the id is a truck')
  .option('--json', 'one JSON object per event (NDJSON)')
  .action((id: string, options: { json?: boolean; truck?: boolean }) =>
    withStorage(async (storage) => {
      const { formatStep, replayStream } = await import('./operations/replay.js')
      const { truckStream } = await import('../machines/kinds.js')
      let count = 0
      for await (const step of replayStream(storage.store, options.truck ? truckStream(id) : id)) {
        out(options.json ? JSON.stringify(step) : formatStep(step))
        count++
      }
      if (count === 0) throw new CliError(`${options.truck ? 'truck' : 'shipment'} ${id} has no events`)
    }),
  )

program
  .command('projections')
  .description('read models')
  .command('rebuild')
  .description('rebuild every read model from the event log (one transaction; writers wait meanwhile)')
  .action(() =>
    withStorage(async (storage) => {
      const { progress } = await import('./operations/progress.js')
      const bar = progress('events applied', await storage.store.events.lastPosition())
      const applied = await storage.store.rebuildProjections((n) => bar.update(n))
      bar.stop(applied)
      out({ rebuilt: storage.store.projections.map((p) => p.name), events: applied })
    }),
  )

const EVENTS_ONLY =
  'events only: command outcomes (rejections, timelines), idempotency keys and tokens are not carried; to move an installation, use `waybill backup` and restore the copy\n'
const events = program.command('events').description('the event log as NDJSON')
events
  .command('export')
  .description('write every event (after --after) as NDJSON to stdout')
  .option('--after <position>', 'only events after this position', position('--after'), 0)
  .action((options: { after: number }) =>
    withStorage(async (storage) => {
      const [{ progress }, { exportEvents }] = await Promise.all([import('./operations/progress.js'), import('./operations/transfer.js')])
      process.stderr.write(EVENTS_ONLY)
      const bar = progress('events exported', await storage.store.events.lastPosition())
      let count = 0
      for await (const line of exportEvents(storage.store, options.after)) {
        process.stdout.write(`${line}\n`)
        bar.update(++count)
      }
      bar.stop(count)
    }),
  )
events
  .command('import [file]')
  .description('append exported events (NDJSON, from a file or stdin) through the machine into this data directory (run `waybill init` first)')
  .action(async (file: string | undefined) => {
    const path = file && file !== '-' ? file : undefined
    if (path !== undefined) {
      try {
        accessSync(path, constants.R_OK)
      } catch (error) {
        throw new CliError(`cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`)
      }
    }
    return withExclusive(async (storage, cfg) => {
      const [{ createReadStream }, { createInterface }, { progress }, { importEvents }] = await Promise.all([
        import('node:fs'), import('node:readline'), import('./operations/progress.js'), import('./operations/transfer.js'),
      ])
      process.stderr.write(EVENTS_ONLY)
      const input = path !== undefined ? createReadStream(path) : process.stdin
      const bar = progress('events imported', undefined)
      const imported = await importEvents(storage.store, createInterface({ input, crlfDelay: Infinity }), { snapshotEvery: cfg.snapshotEvery, onProgress: (n) => bar.update(n) })
      bar.stop(imported)
      out({ imported })
    })
  })

program
  .command('backup <file>')
  .description('copy the database online (VACUUM INTO, while the service runs) and check the copy: integrity_check and verify')
  .action((file: string) =>
    withStorage(async (storage, cfg) => {
      const { backup } = await import('./operations/backup.js')
      if (storage.store.dialect === 'sqlite') process.stderr.write(`copying to ${file}, then checking the copy\n`)
      const report = await backup(storage.store, cfg, file)
      out(report)
      if (report.integrity !== 'ok' || report.verify.problems.length > 0) process.exitCode = 1
    }),
  )

program
  .command('verify')
  .description('check the log invariants over the whole database (I2 versions and machine paths, I5 read model)')
  .action(() =>
    withStorage(async (storage) => {
      const [{ progress }, { verify }] = await Promise.all([import('./operations/progress.js'), import('./operations/verify.js')])
      const bar = progress('events checked', await storage.store.events.lastPosition())
      const report = await verify(storage.store, (n) => bar.update(n))
      bar.stop(report.events)
      out(report)
      if (report.problems.length > 0) process.exitCode = 1
    }),
  )

program
  .command('doctor')
  .description('check the configuration, disk, SQLite, partitions, Redis and Node')
  .option('--json', 'as JSON')
  .action(async (options: { json?: boolean }) => {
    const { doctor } = await import('./operations/doctor.js')
    const checks = await doctor(await config(), process.env)
    if (options.json) out(checks)
    else for (const c of checks) out(`${c.status.toUpperCase().padEnd(4)}  ${c.name.padEnd(10)} ${c.detail}`)
    if (checks.some((c) => c.status === 'fail')) process.exitCode = 1
  })

/** Errors an operator can fix: one line on stderr, exit code 2 (systemd: RestartPreventExitStatus=2). */
const operatorErrors = new Set(['ConfigError', 'RedisMissingError', 'RedisRefusedError', 'CliError', 'ImportError', 'NoDatabaseError', 'BackupError', 'ListenError', 'PartitionCountError', 'ServedError'])

program
  .command('config')
  .description('every setting: its value here (environment, ./.env), its default and its meaning')
  .option('--json', 'as JSON')
  .action(async (options: { json?: boolean }) => {
    loadDotEnv()
    const { configReference, secretVariables } = await import('./config.js')
    const rows = configReference().map((c) => ({ ...c, value: process.env[c.variable] === undefined ? '' : secretVariables.has(c.variable) ? '[set]' : process.env[c.variable] }))
    if (options.json) return out(rows)
    out(rows.map((c) => `${c.variable.padEnd(32)} ${(c.value || `(${c.default})`).padEnd(26)} ${c.meaning}`).join('\n'))
  })

program.addHelpText('after', '\nConfiguration: environment variables (or ./.env); `waybill config` lists every setting with its default and its value here.\n')

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof Error && operatorErrors.has(error.name)) {
    process.stderr.write(`waybill: ${error.message}\n`)
    process.exit(2)
  }
  process.stderr.write(`waybill: ${(error as Error).stack ?? String(error)}\n`)
  process.exit(1)
})
