import { join } from 'node:path'
import { openStorage, type Storage } from '../../src/storage.js'
import { createDatabase, postgresLeftOut } from './postgres.js'
import { tempDir } from './service.js'

/**
 * One definition, both storage adapters: `eachAdapter(t, 'name', async (t, adapter) => …)` runs the
 * test once on the embedded SQLite file and once on a PostgreSQL database of its own. The PostgreSQL
 * run is skipped, with the reason, where `postgresLeftOut` says so (never under CI for want of a server).
 */
export type AdapterName = 'sqlite' | 'postgres'

export interface Adapter {
  readonly name: AdapterName
  /** Environment for a service or a CLI process on this adapter (WAYBILL_DATABASE_URL for PostgreSQL). */
  readonly env: Record<string, string>
  /** Opens (and migrates) a storage of this adapter in the test's own place; closed at teardown. */
  storage(options?: { dataDir?: string }): Promise<Storage>
}

type T = { teardown(fn: () => unknown): void; test(name: string, fn: (t: any) => Promise<void>): Promise<unknown>; skip(name: string, fn?: unknown): unknown }

export async function adapterFor(t: { teardown(fn: () => unknown): void }, name: AdapterName): Promise<Adapter> {
  const url = name === 'postgres' ? await createDatabase(t) : undefined
  const env: Record<string, string> = url ? { WAYBILL_DATABASE_URL: url } : {}
  return {
    name,
    env,
    async storage(options = {}) {
      const dataDir = options.dataDir ?? tempDir(t)
      const storage = await openStorage({ databaseFile: join(dataDir, 'waybill.db'), databaseUrl: url, busyTimeoutMs: 1000, bootstrapToken: undefined })
      t.teardown(() => storage.close())
      return storage
    },
  }
}

export function eachAdapter(t: T, name: string, body: (t: any, adapter: Adapter) => Promise<void>, only: readonly AdapterName[] = ['sqlite', 'postgres']): void {
  for (const adapter of only) {
    void t.test(`${name} [${adapter}]`, async (t: any) => {
      const leftOut = adapter === 'postgres' && (await postgresLeftOut())
      if (leftOut) return void t.plan(0, leftOut)
      await body(t, await adapterFor(t, adapter))
    })
  }
}
