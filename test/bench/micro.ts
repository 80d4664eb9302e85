import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { transition } from 'xstate'
import { initialSnapshot, shipmentMachine, step, type ShipmentCommand } from '../../machines/shipment/index.js'
import type { NewCommand } from '../../src/inbox/inbox.js'
import { verify } from '../../src/operations/verify.js'
import { openStorage, type Storage } from '../../src/storage.js'
import { ActorCache, snapshotSchema } from '../../src/worker/actor.js'
import { Worker } from '../../src/worker/worker.js'

/**
 * In-process micro-benchmarks of the parts behind the HTTP path: the machine step, decide+append
 * throughput (no HTTP, no Redis), hydration (hot, cold from a snapshot, cold by replay), projection
 * rebuild and `verify`. Real SQLite file, synchronous=FULL.
 */
const silent = { warn: () => {}, error: () => {} }

export function workerOn(storage: Storage, actors: ActorCache, batchMax = 256): Worker {
  const worker = new Worker(
    { db: storage.db, store: storage.store, inbox: storage.inbox, epochs: storage.epochs, projector: storage.projector, parking: storage.parking, actors, clock: Date.now, log: silent, onDecided: () => {} },
    { partitions: 1, batchMax, snapshotEvery: 16, lingerMs: 0, maxAttempts: 5, intakeWaitMs: 2000 },
  )
  worker.grant(0, storage.epochs.claim(0, 'bench', Date.now()))
  return worker
}

export function command(streamId: string, payload: ShipmentCommand): NewCommand {
  return { commandId: randomUUID(), streamId, partition: 0, payload, metadata: { deviceId: 'bench' }, idempotencyKey: null, requestHash: null, receivedAt: Date.now() }
}

/** Submits commands in chunks and waits for each chunk's cycle; returns commands decided per second. */
export async function drive(worker: Worker, commands: NewCommand[], chunk = 256): Promise<number> {
  const started = performance.now()
  for (let i = 0; i < commands.length; i += chunk) {
    await Promise.all(commands.slice(i, i + chunk).map((c) => worker.submit(c)))
    await worker.kick()
  }
  return commands.length / ((performance.now() - started) / 1000)
}

function time(runs: number, fn: () => unknown): number {
  const started = performance.now()
  for (let i = 0; i < runs; i++) fn()
  return ((performance.now() - started) * 1000) / runs
}

export async function micro(dir: string): Promise<string[]> {
  const storage = openStorage({ databaseFile: join(dir, 'micro.db'), busyTimeoutMs: 1000, bootstrapToken: undefined })
  const actors = new ActorCache(storage.store, { size: 10_000 })
  const worker = workerOn(storage, actors)
  const lines = ['| measurement | value |', '|---|---:|']
  const row = (name: string, value: string) => lines.push(`| ${name} | ${value} |`)

  // The machine step against XState's transition() over the same 10,000 commands.
  const churn: ShipmentCommand[] = [{ type: 'REGISTER' }]
  for (let i = 0; i < 10_000; i++) churn.push(i % 2 === 0 ? { type: 'ASSIGN', truckId: `T${i}` } : { type: 'UNASSIGN' })
  let a = initialSnapshot()
  let b = initialSnapshot()
  const viaTransition = time(1, () => { for (const c of churn) a = transition(shipmentMachine, a, c)[0] }) / churn.length
  const viaStep = time(1, () => { for (const c of churn) b = step(b, c) }) / churn.length
  row('machine: XState `transition()` per event', `${viaTransition.toFixed(1)} µs`)
  row('machine: `step` (reused inert scope) per event', `${viaStep.toFixed(1)} µs (${(viaTransition / viaStep).toFixed(1)}× faster)`)

  // Decide + append, in process: a shipment with 10,000 events, then 25,000 shipments walked through.
  const long = churn.map((c) => command('LONG', c))
  const perSecond = await drive(worker, long)
  row('decide + append, one shipment, in process', `${Math.round(perSecond).toLocaleString('en')} commands/s`)
  const walks: NewCommand[] = []
  for (let i = 0; i < 25_000; i++) {
    const id = `W${i}`
    walks.push(command(id, { type: 'REGISTER' }), command(id, { type: 'ASSIGN', truckId: 'T1' }), command(id, { type: 'SHIP' }), command(id, { type: 'DELIVER' }))
  }
  const walkPerSecond = await drive(worker, walks)
  row('decide + append, 25,000 shipments × 4, in process', `${Math.round(walkPerSecond).toLocaleString('en')} commands/s`)

  // Hydration of the 10,001-event shipment.
  const epoch = worker.held().get(0)!
  actors.get('LONG', epoch)
  row('hydration, hot (actor cache)', `${time(100_000, () => actors.get('LONG', epoch)).toFixed(2)} µs`)
  const snapshot = storage.store.loadSnapshot('LONG')!
  row(`hydration, cold from snapshot (v${snapshot.version}) + tail, 10,001 events`, `${(time(500, () => actors.hydrate('LONG')) / 1000).toFixed(3)} ms`)
  storage.store.saveSnapshot('LONG', { ...snapshot, schema: 'shipment@other' })
  row('hydration, cold by replay (snapshot of another machine version ignored)', `${(time(5, () => actors.hydrate('LONG')) / 1000).toFixed(1)} ms`)
  storage.store.saveSnapshot('LONG', { ...snapshot, schema: snapshotSchema })

  // Rebuild and verify over the whole log.
  const events = storage.store.lastPosition()
  let started = performance.now()
  storage.projector.rebuild(storage.store.iterate())
  row(`projection rebuild, ${events.toLocaleString('en')} events`, `${Math.round(events / ((performance.now() - started) / 1000)).toLocaleString('en')} events/s`)
  started = performance.now()
  const report = verify(storage)
  row(`verify (I2 + I5), ${report.events.toLocaleString('en')} events, ${report.problems.length} problems`, `${Math.round(report.events / ((performance.now() - started) / 1000)).toLocaleString('en')} events/s`)
  storage.close()
  return lines
}
