import { existsSync, statSync } from 'node:fs'
import Database from 'better-sqlite3'
import type { Config } from '../config.js'
import { openStore } from '../storage.js'
import type { Store } from '../store/store.js'
import { verify, type VerifyReport } from './verify.js'

/**
 * `backup <file>`: an online copy of the embedded database with `VACUUM INTO` — one read transaction,
 * so the copy is a consistent snapshot even while commands are flowing, writers are not blocked (WAL),
 * and unlike the page-by-page backup API it does not start over each time the service writes. The
 * copy is marked once (a restore from it begins a new feed generation), then opened read-only and
 * checked: `integrity_check` and the log invariants (`verify`) change no byte of it. A backup that
 * fails its checks is reported as such.
 *
 * PostgreSQL is backed up with its own tools (`pg_dump`, or a base backup with WAL archiving): the
 * command says so instead of pretending.
 */
export class BackupError extends Error {
  override readonly name = 'BackupError'
}

export interface BackupReport {
  readonly file: string
  readonly bytes: number
  readonly integrity: string
  readonly verify: VerifyReport
}

export async function backup(store: Store, config: Pick<Config, 'busyTimeoutMs' | 'databaseFile' | 'databaseUrl'>, file: string): Promise<BackupReport> {
  if (store.dialect !== 'sqlite') {
    throw new BackupError(
      `this installation runs on PostgreSQL (${store.location}): back it up with PostgreSQL's tools, e.g. \`pg_dump --format=custom --file=${file} "$WAYBILL_DATABASE_URL"\` (restore with pg_restore into an empty database), or a base backup with WAL archiving for point-in-time recovery`,
    )
  }
  if (existsSync(file)) throw new BackupError(`${file} exists; choose a new file`)
  try {
    await store.sql.run('VACUUM INTO @file', { file })
  } catch (error) {
    throw new BackupError(`cannot write ${file}: ${(error as Error).message} (its directory must exist and be writable by the user running the backup)`)
  }
  // The copy is marked: a service started on it (a restore) begins a new feed generation, so that the
  // positions the original hands out after this moment are never handed out again.
  const marking = new Database(file)
  try {
    marking.prepare('UPDATE installation SET renew_generation = 1 WHERE singleton = 1').run()
  } finally {
    marking.close()
  }
  // Read-only: the check must not change what it checks (no migration, no switch to WAL).
  const copy = await openStore(config, { file, readonly: true })
  try {
    const integrity = (await copy.sql.get<{ integrity_check: string }>('PRAGMA integrity_check'))!.integrity_check
    return { file, bytes: statSync(file).size, integrity, verify: await verify(copy) }
  } finally {
    await copy.close()
  }
}
