#!/usr/bin/env node
import { existsSync, createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { Command, Option } from 'commander'
import closeWithGrace from 'close-with-grace'
import { roles, type Role } from './auth/tokens.js'
import { ConfigError, configReference, loadConfig, type Config } from './config.js'
import { backup, BackupError } from './operations/backup.js'
import { doctor } from './operations/doctor.js'
import { progress } from './operations/progress.js'
import { formatStep, replayShipment } from './operations/replay.js'
import { exportEvents, ImportError, importEvents } from './operations/transfer.js'
import { verify } from './operations/verify.js'
import { packageVersion } from './package-info.js'
import { ensureRedis, RedisMissingError } from './queue/embedded-redis.js'
import { RedisUnavailableError } from './queue/redis.js'
import { createLogger, startService } from './service.js'
import { NoDatabaseError, openStorage, type Storage } from './storage.js'

/**
 * `waybill` — the service and its operations. Data goes to stdout (JSON / NDJSON / text tables),
 * progress and logs to stderr; a non-zero exit code means the command failed or found problems.
 */
function config(): Config {
  if (existsSync('.env')) process.loadEnvFile('.env')
  return loadConfig(process.env)
}

/** Runs `work` on the installation's storage; `read`: the database must already exist. */
function withStorage<T>(work: (storage: Storage, config: Config) => T, read = false): T {
  const cfg = config()
  const storage = openStorage(cfg, Date.now, { mustExist: read })
  const result = work(storage, cfg)
  if (result instanceof Promise) return result.finally(() => storage.close()) as T
  storage.close()
  return result
}

const out = (value: unknown): void => void process.stdout.write(`${typeof value === 'string' ? value : JSON.stringify(value, null, 2)}\n`)

async function run(api: boolean): Promise<void> {
  const cfg = config()
  const log = createLogger(cfg)
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
  .addHelpText('after', `\nConfiguration (environment or ./.env):\n${configReference().map((c) => `  ${c.variable.padEnd(32)} ${c.default.padEnd(24)} ${c.meaning}`).join('\n')}\n`)
  .showHelpAfterError()

program.command('serve').description('run the HTTP API and a worker in one process (data under WAYBILL_DATA_DIR)').action(() => run(true))
program.command('worker').description('run an extra worker process against the same data directory and Redis').action(() => run(false))

const tokens = program.command('tokens').description('device tokens: create, list, revoke')
tokens
  .command('create')
  .description('create a token; the secret is printed once (store it in the device now)')
  .requiredOption('--device <deviceId>', 'the device (recorded with every command it sends)')
  .addOption(new Option('--role <role>', 'what it may do').choices(roles).makeOptionMandatory())
  .option('--label <text>', 'a note for the token list')
  .action((options: { device: string; role: Role; label?: string }) =>
    withStorage((storage) => {
      const { token, info } = storage.tokens.create({ deviceId: options.device, role: options.role, label: options.label })
      out({ token, ...info })
      process.stderr.write('The token is shown only this once: put it in the device now.\n')
    }),
  )
tokens.command('list').description('list tokens (never their secrets)').action(() => withStorage((storage) => out(storage.tokens.list())))
tokens
  .command('revoke <tokenId>')
  .description('revoke a token (effective immediately)')
  .action((tokenId: string) =>
    withStorage((storage) => {
      if (!storage.tokens.revoke(tokenId)) throw new CliError(`no active token ${tokenId}`)
      out(storage.tokens.get(tokenId))
    }),
  )

program
  .command('replay <shipmentId>')
  .description("print a shipment's state after each of its events, replayed through the machine")
  .option('--json', 'one JSON object per event (NDJSON)')
  .action((shipmentId: string, options: { json?: boolean }) =>
    withStorage((storage) => {
      let count = 0
      for (const step of replayShipment(storage, shipmentId)) {
        out(options.json ? JSON.stringify(step) : formatStep(step))
        count++
      }
      if (count === 0) throw new CliError(`shipment ${shipmentId} has no events`)
    }, true),
  )

program
  .command('projections')
  .description('read models')
  .command('rebuild')
  .description('rebuild every read model from the event log (one transaction; writers wait meanwhile)')
  .action(() =>
    withStorage((storage) => {
      const bar = progress('events applied', storage.store.lastPosition())
      const applied = storage.projector.rebuild(storage.store.iterate(), (n) => bar.update(n))
      bar.stop(applied)
      out({ rebuilt: storage.projector.projections.map((p) => p.name), events: applied })
    }),
  )

const events = program.command('events').description('the event log as NDJSON')
events
  .command('export')
  .description('write every event (after --after) as NDJSON to stdout')
  .option('--after <position>', 'only events after this position', '0')
  .action((options: { after: string }) =>
    withStorage((storage) => {
      const bar = progress('events exported', storage.store.lastPosition())
      let count = 0
      for (const line of exportEvents(storage, Number(options.after))) {
        process.stdout.write(`${line}\n`)
        bar.update(++count)
      }
      bar.stop(count)
    }, true),
  )
events
  .command('import [file]')
  .description('append exported events (NDJSON, from a file or stdin) through the machine into this data directory')
  .action((file: string | undefined) =>
    withStorage(async (storage, cfg) => {
      const input = file && file !== '-' ? createReadStream(file) : process.stdin
      const bar = progress('events imported', undefined)
      const imported = await importEvents(storage, createInterface({ input, crlfDelay: Infinity }), { snapshotEvery: cfg.snapshotEvery, onProgress: (n) => bar.update(n) })
      bar.stop(imported)
      out({ imported })
    }),
  )

program
  .command('backup <file>')
  .description('copy the database online (VACUUM INTO, while the service runs) and check the copy: integrity_check and verify')
  .action((file: string) =>
    withStorage((storage) => {
      process.stderr.write(`copying to ${file}, then checking the copy\n`)
      const report = backup(storage, file)
      out(report)
      if (report.integrity !== 'ok' || report.verify.problems.length > 0) process.exitCode = 1
    }, true),
  )

program
  .command('verify')
  .description('check the log invariants over the whole database (I2 versions and machine paths, I5 read model)')
  .action(() =>
    withStorage((storage) => {
      const bar = progress('events checked', storage.store.lastPosition())
      const report = verify(storage, (n) => bar.update(n))
      bar.stop(report.events)
      out(report)
      if (report.problems.length > 0) process.exitCode = 1
    }, true),
  )

program
  .command('doctor')
  .description('check the configuration, disk, SQLite, Redis and Node')
  .option('--json', 'as JSON')
  .action(async (options: { json?: boolean }) => {
    const checks = await doctor(config())
    if (options.json) out(checks)
    else for (const c of checks) out(`${c.status.toUpperCase().padEnd(4)}  ${c.name.padEnd(7)} ${c.detail}`)
    if (checks.some((c) => c.status === 'fail')) process.exitCode = 1
  })

class CliError extends Error {
  override readonly name = 'CliError'
}

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof RedisMissingError || error instanceof CliError || error instanceof ImportError || error instanceof NoDatabaseError || error instanceof BackupError) {
    process.stderr.write(`waybill: ${error.message}\n`)
    process.exit(2)
  }
  process.stderr.write(`waybill: ${(error as Error).stack ?? String(error)}\n`)
  process.exit(1)
})
