import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { ServedError } from '../store.js'

/**
 * Who may write the log outside the service. Every `serve` and `worker` process holds a SHARED lock
 * on a small SQLite file beside the database (`<database>.served`, rollback-journal mode: an open
 * read transaction keeps its SHARED lock) for as long as it runs; `events import` needs the EXCLUSIVE
 * lock on it and is refused while any process serves. The operating system drops the locks of a
 * process that dies (kill -9 included), so a crash never leaves the database marked as served, and no
 * heartbeat or Redis is involved. While an import holds the lock, a process that starts is refused.
 *
 * Why not the database itself: a SHARED lock held on the WAL database for hours would stop
 * checkpoints; the marker file carries the lock and nothing else.
 */

export interface ServedLock {
  release(): void
}

const lockFile = (databaseFile: string) => `${databaseFile}.served`
const isBusy = (error: unknown) => /^SQLITE_BUSY/.test(String((error as { code?: unknown }).code))

function open(databaseFile: string): Database.Database {
  mkdirSync(dirname(databaseFile), { recursive: true })
  const db = new Database(lockFile(databaseFile))
  db.pragma('busy_timeout = 0')
  return db
}

/** For `serve` and `worker`: held until `release()` (or the process ends). */
export function holdServed(databaseFile: string): ServedLock {
  const db = open(databaseFile)
  try {
    // Rollback journal (the default; never WAL here): a reader's SHARED lock is what excludes the importer.
    db.pragma('journal_mode = DELETE')
    db.exec('CREATE TABLE IF NOT EXISTS served (note TEXT)')
    db.exec('BEGIN')
    db.prepare('SELECT count(*) FROM served').pluck().get()
  } catch (error) {
    db.close()
    if (isBusy(error)) throw new ServedError(`an events import is writing to ${databaseFile}; start the service when it has finished`)
    throw error
  }
  return { release: () => db.open && db.close() }
}

/** For `events import`: refused (ServedError) while any process serves the database. */
export function holdExclusive(databaseFile: string): ServedLock {
  const db = open(databaseFile)
  try {
    db.pragma('journal_mode = DELETE')
    db.exec('BEGIN EXCLUSIVE')
  } catch (error) {
    db.close()
    if (isBusy(error)) {
      throw new ServedError(`${databaseFile} is being served (a waybill serve or worker process runs on it): stop every process of the installation before importing`)
    }
    throw error
  }
  return { release: () => db.open && db.close() }
}
