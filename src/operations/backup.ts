import { statSync } from 'node:fs'
import { openStorage, type Storage } from '../storage.js'
import { verify, type VerifyReport } from './verify.js'

/**
 * `backup <file>`: an online copy through SQLite's backup API (consistent even while commands are
 * flowing; writers are not blocked), then the copy is opened and checked: `integrity_check` and the
 * log invariants (`verify`). A backup that fails its checks is reported as such.
 */
export interface BackupReport {
  readonly file: string
  readonly bytes: number
  readonly integrity: string
  readonly verify: VerifyReport
}

export async function backup(storage: Storage, file: string, onProgress?: (done: number, total: number) => void): Promise<BackupReport> {
  await storage.db.backup(file, {
    progress: ({ totalPages, remainingPages }) => {
      onProgress?.(totalPages - remainingPages, totalPages)
      return 1000
    },
  })
  const copy = openStorage({ databaseFile: file, busyTimeoutMs: 1000, bootstrapToken: undefined })
  try {
    const integrity = String(copy.db.pragma('integrity_check', { simple: true }))
    return { file, bytes: statSync(file).size, integrity, verify: verify(copy) }
  } finally {
    copy.close()
  }
}
