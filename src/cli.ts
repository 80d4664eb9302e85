#!/usr/bin/env node
import { existsSync } from 'node:fs'
import { Command } from 'commander'
import closeWithGrace from 'close-with-grace'
import { ConfigError, loadConfig, type Config } from './config.js'
import { verify } from './operations/verify.js'
import { ensureRedis, RedisMissingError } from './queue/embedded-redis.js'
import { createLogger, startService } from './service.js'
import { openStorage } from './storage.js'

/**
 * `waybill` — serve | worker | … Data goes to stdout, progress and logs to stderr (logs are JSON).
 */
function config(): Config {
  if (existsSync('.env')) process.loadEnvFile('.env')
  return loadConfig(process.env)
}

async function run(api: boolean): Promise<void> {
  const cfg = config()
  const log = createLogger(cfg)
  const redis = api && cfg.embeddedRedis === 'auto' ? await ensureRedis({ url: cfg.redisUrl, dataDir: cfg.dataDir, mode: cfg.embeddedRedis, log }) : null
  const service = await startService(cfg, { api, logger: log }).catch(async (error) => {
    await redis?.stop()
    throw error
  })
  closeWithGrace({ delay: 10_000, logger: log }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'shutting down after an error')
    else log.info({ signal }, 'shutting down')
    await service.close()
    await redis?.stop()
  })
}

const program = new Command('waybill')
  .description('Event-sourced shipment processor for a depot')
  .showHelpAfterError()

program
  .command('serve')
  .description('run the HTTP API and a worker in one process (data under WAYBILL_DATA_DIR)')
  .action(() => run(true))

program
  .command('worker')
  .description('run an extra worker process against the same data directory and Redis')
  .action(() => run(false))

const progress = (what: string) => (count: number) => process.stderr.write(`${what}: ${count}\n`)

program
  .command('projections')
  .description('read models')
  .command('rebuild')
  .description('rebuild every read model from the event log (one transaction; writers wait meanwhile)')
  .action(() => {
    const storage = openStorage(config())
    try {
      const applied = storage.projector.rebuild(storage.store.iterate(), progress('events applied'))
      process.stdout.write(`${JSON.stringify({ rebuilt: storage.projector.projections.map((p) => p.name), events: applied })}\n`)
    } finally {
      storage.close()
    }
  })

program
  .command('verify')
  .description('check the log invariants over the whole database (I2 versions and machine paths, I5 read model)')
  .action(() => {
    const storage = openStorage(config())
    try {
      const report = verify(storage, progress('events checked'))
      process.stdout.write(`${JSON.stringify(report)}\n`)
      if (report.problems.length > 0) process.exitCode = 1
    } finally {
      storage.close()
    }
  })

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof RedisMissingError) {
    process.stderr.write(`waybill: ${error.message}\n`)
    process.exit(2)
  }
  process.stderr.write(`waybill: ${(error as Error).stack ?? String(error)}\n`)
  process.exit(1)
})
