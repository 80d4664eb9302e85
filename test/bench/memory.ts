import { join } from 'node:path'
import { openStorage } from '../../src/storage.js'
import { ActorCache } from '../../src/decisions/actor-cache.js'
import { command, drive, workerOn } from './micro.js'

/** Writes `count` registered shipments `S0`…`S<count-1>` into `<dir>/waybill.db` (in process, group-committed). */
export async function seedShipments(dir: string, count: number, progress: (done: number) => void): Promise<number> {
  const storage = await openStorage({ databaseFile: join(dir, 'waybill.db'), databaseUrl: undefined, busyTimeoutMs: 1000, bootstrapToken: undefined })
  const loop = await workerOn(storage, new ActorCache({ size: 0 }), 4096)
  const started = performance.now()
  for (let i = 0; i < count; i += 50_000) {
    const chunk = Array.from({ length: Math.min(50_000, count - i) }, (_, k) => command(`S${i + k}`, { type: 'REGISTER' }))
    await drive(loop, chunk, 4096)
    progress(i + chunk.length)
  }
  // The seeding worker claimed partition 0 of a 1-partition layout; hand the table back to the service.
  await storage.store.sql.run('DELETE FROM partitions')
  await storage.close()
  return count / ((performance.now() - started) / 1000)
}
