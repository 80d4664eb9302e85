import { existsSync, statSync } from 'node:fs'
import { openStorage, type Storage } from '../storage.js'
import { verify, type VerifyReport } from './verify.js'

/**
 * `backup <file>`: an online copy with `VACUUM INTO` — one read transaction, so the copy is a
 * consistent snapshot even while commands are flowing, writers are not blocked (WAL), and unlike the
 * page-by-page backup API it does not start over each time the service writes. The copy is then
 * opened and checked: `integrity_check` and the log invariants (`verify`). A backup that fails its
 * checks is reported as such.
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

export function backup(storage: Storage, file: string): BackupReport {
  if (existsSync(file)) throw new BackupError(`${file} exists; choose a new file`)
  storage.db.prepare('VACUUM INTO ?').run(file)
  const copy = openStorage({ databaseFile: file, busyTimeoutMs: 1000, bootstrapToken: undefined })
  try {
    const integrity = String(copy.db.pragma('integrity_check', { simple: true }))
    return { file, bytes: statSync(file).size, integrity, verify: verify(copy) }
  } finally {
    copy.close()
  }
}
