import { join } from 'node:path'
import { transition } from 'xstate'
import { initialSnapshot, shipmentKind, shipmentMachine, step, type ShipmentCommand } from '../../machines/shipment/index.js'
import { GroupCommit } from '../../src/commands/group-commit.js'
import { newCommandId } from '../../src/commands/ids.js'
import { ActorCache } from '../../src/decisions/actor-cache.js'
import { DrainLoop } from '../../src/decisions/drain.js'
import { Quarantine } from '../../src/decisions/quarantine.js'
import { verify } from '../../src/operations/verify.js'
import { snapshotSchema } from '../../src/projections/actors.js'
import { openStorage, type Storage } from '../../src/storage.js'
import type { SqliteStore } from '../../src/store/sqlite/store.js'
import type { NewCommand } from '../../src/store/types.js'

/**
 * In-process micro-benchmarks of the parts behind the HTTP path: the machine step, decide+append
 * throughput (no HTTP, no Redis), hydration (hot, cold from a snapshot, cold by replay), projection
 * rebuild and `verify`. Real SQLite file, synchronous=FULL.
 */
const silent = { warn: () => {}, error: () => {} }

/** A drain loop with its group commit, holding partition 0 of a 1-partition layout. */
export interface BenchLoop {
  readonly worker: DrainLoop
  readonly intake: GroupCommit
}

export async function workerOn(storage: Storage, actors: ActorCache, batchMax = 256): Promise<BenchLoop> {
  const { store } = storage
  const intake = new GroupCommit({ clock: Date.now })
  const quarantine = new Quarantine({ store, actors, clock: Date.now, log: silent }, { maxAttempts: 5, batchMax })
  const worker = new DrainLoop(
    { store, intake, actors, quarantine, clock: Date.now, log: silent, onDecided: () => {} },
    { partitions: 1, batchMax, snapshotEvery: 16, lingerMs: 0, intakeWaitMs: 2000 },
  )
  worker.grant(0, await store.epochs.claim(0, 'bench', Date.now()))
  return { worker, intake }
}

/** A command as the intake makes one (a UUIDv7 id: random ones would make the inbox's id index cost more than it does in service). */
export function command(streamId: string, payload: ShipmentCommand): NewCommand {
  return { commandId: newCommandId(), streamId, partition: 0, payload, metadata: { deviceId: 'bench' }, idempotencyKey: null, requestHash: null, receivedAt: Date.now() }
}

/**
 * Submits commands in chunks, each after the last one's cycle (a submission settles when the cycle
 * that took it in commits, and with `chunk` at most the loop's batchMax that cycle decides it too),
 * then kicks once, for anything a cycle left pending. Returns commands decided per second. A kick per
 * chunk would add an empty cycle and a read of the inbox's last seq to every chunk: 5–24% of the
 * time per command at 64 per chunk (3 alternating pairs, 2026-12-06).
 */
export async function drive(loop: BenchLoop, commands: readonly NewCommand[], chunk = 256): Promise<number> {
  const started = performance.now()
  for (let i = 0; i < commands.length; i += chunk) await submitAll(loop, commands.slice(i, i + chunk))
  await loop.worker.kick()
  return commands.length / ((performance.now() - started) / 1000)
}

async function submitAll(loop: BenchLoop, commands: readonly NewCommand[]): Promise<void> {
  await Promise.all(commands.map((c) => loop.intake.submit(c)))
}

/** Commands walking `shipments` fresh shipments (`W<first>`, `W<first + 1>`, …) REGISTER → ASSIGN → SHIP → DELIVER. */
function walks(first: number, shipments: number): NewCommand[] {
  const commands: NewCommand[] = []
  for (let i = first; i < first + shipments; i++) {
    const id = `W${i}`
    commands.push(command(id, { type: 'REGISTER' }), command(id, { type: 'ASSIGN', truckId: 'T1' }), command(id, { type: 'SHIP' }), command(id, { type: 'DELIVER' }))
  }
  return commands
}

/**
 * The decision path alone, in this process: fresh shipments walked through a drain loop, `cycle`
 * commands per cycle (one transaction, one fsync), with every write a command makes (the inbox row
 * and its outcome, the event, the read models) and nothing of HTTP, auth, logging or Redis. The most
 * one event loop decides at the cycle size a load makes: 64 commands for 64 connections of single
 * commands, 1000 for a 1000-item batch. A cycle holds `cycle / 4` shipments' four commands each
 * (under HTTP load, one command each of up to 64 shipments: as many rows written per command, and
 * each shipment hydrated once either way). The bench runs it between the HTTP targets, on one
 * database for all its rounds (the services' databases grow over the rounds too); micro's rows run it
 * on micro's database, for a number of commands.
 */
export class DecisionCeiling {
  #walked = 0
  constructor(
    private readonly storage: Storage,
    private readonly actors: ActorCache,
  ) {}

  static async open(dir: string): Promise<DecisionCeiling> {
    const storage = await openStorage({ databaseFile: join(dir, 'ceiling.db'), databaseUrl: undefined, busyTimeoutMs: 1000, bootstrapToken: undefined })
    return new DecisionCeiling(storage, new ActorCache({ size: 10_000 }))
  }

  /**
   * Decides `cycle` commands per cycle until `seconds` have passed or `commands` were decided,
   * whichever comes first; commands per second and this process's CPU per command.
   */
  async run(cycle: number, until: { readonly seconds?: number; readonly commands?: number }): Promise<{ rps: number; cpuMsPerCommand: number }> {
    const seconds = until.seconds ?? Infinity
    const limit = until.commands ?? Infinity
    // Each run's loop claims the partition anew (a new epoch), as a restarted owner would.
    const loop = await workerOn(this.storage, this.actors, cycle)
    const cpu = process.cpuUsage()
    const started = performance.now()
    let decided = 0
    while (decided < limit && performance.now() - started < seconds * 1000) {
      // Exactly `cycle` commands per cycle (a walk cut short leaves its shipment where it stopped).
      const size = Math.min(cycle, limit - decided)
      const commands = walks(this.#walked, Math.ceil(size / 4)).slice(0, size)
      this.#walked += Math.ceil(size / 4)
      await submitAll(loop, commands)
      decided += commands.length
    }
    await loop.worker.kick()
    const elapsed = (performance.now() - started) / 1000
    const { user, system } = process.cpuUsage(cpu)
    return { rps: decided / elapsed, cpuMsPerCommand: (user + system) / 1000 / decided }
  }

  close(): Promise<void> {
    return this.storage.close()
  }
}

function time(runs: number, fn: () => unknown): number {
  const started = performance.now()
  for (let i = 0; i < runs; i++) fn()
  return ((performance.now() - started) * 1000) / runs
}

/**
 * Sizes of the in-process measurements: the machine-step churn and the long stream's commands, and
 * the shipments walked through at each cycle size (the defaults are the bench's; the test runs it small).
 */
export interface MicroSize {
  readonly churn: number
  readonly walks: number
}

export async function micro(dir: string, size: MicroSize = { churn: 10_000, walks: 25_000 }): Promise<string[]> {
  const storage = await openStorage({ databaseFile: join(dir, 'micro.db'), databaseUrl: undefined, busyTimeoutMs: 1000, bootstrapToken: undefined })
  const store = storage.store as SqliteStore
  const actors = new ActorCache({ size: 10_000 })
  const loop = await workerOn(storage, actors)
  const { worker } = loop
  const lines = ['| measurement | value |', '|---|---:|']
  const row = (name: string, value: string) => lines.push(`| ${name} | ${value} |`)

  // The machine step against XState's transition() over the same commands.
  const churn: ShipmentCommand[] = [{ type: 'REGISTER' }]
  for (let i = 0; i < size.churn; i++) churn.push(i % 2 === 0 ? { type: 'ASSIGN', truckId: `T${i}` } : { type: 'UNASSIGN' })
  let a = initialSnapshot()
  let b = initialSnapshot()
  const viaTransition = time(1, () => { for (const c of churn) a = transition(shipmentMachine, a, c)[0] }) / churn.length
  const viaStep = time(1, () => { for (const c of churn) b = step(b, c) }) / churn.length
  row('machine: XState `transition()` per event', `${viaTransition.toFixed(1)} µs`)
  row('machine: `step` (reused inert scope) per event', `${viaStep.toFixed(1)} µs (${(viaTransition / viaStep).toFixed(1)}× faster)`)

  // Decide + append, in process: a shipment with `churn` events, then shipments walked through.
  const long = churn.map((c) => command('LONG', c))
  const perSecond = await drive(loop, long)
  row('decide + append, one shipment, in process', `${Math.round(perSecond).toLocaleString('en')} commands/s`)
  // Hydration of the long shipment.
  const epoch = worker.held().get(0)!
  actors.get('LONG', epoch)
  row('hydration, hot (actor cache)', `${time(100_000, () => actors.get('LONG', epoch)).toFixed(2)} µs`)
  // Cold: what a cycle's `load` reads (newest checkpoint of a schema + the events after it), then hydrated.
  const schema = snapshotSchema(shipmentKind)
  const snapshot = (await store.events.loadSnapshot('LONG', schema))!
  row(`hydration, cold from snapshot (v${snapshot.version}) + tail, ${long.length.toLocaleString('en')} events`, `${(time(500, () => actors.hydrate(store.ops.load('LONG', [schema]))) / 1000).toFixed(3)} ms`)
  // Checkpoints of another machine version are never read: with none of its own, a stream is replayed.
  row('hydration, cold by replay (no checkpoint of this machine version)', `${(time(5, () => actors.hydrate(store.ops.load('LONG', ['shipment@other']))) / 1000).toFixed(1)} ms`)

  // The decision path's ceiling, with nothing of HTTP, auth, logging or Redis on the event loop, at the
  // cycle sizes the loads make: 64 commands (64 connections of single commands), 256 (the default
  // WAYBILL_BATCH_MAX) and 1000 (one offline batch). Each size walks fresh shipments REGISTER → ASSIGN
  // → SHIP → DELIVER; every cycle is one transaction with its fsync. After the hydration rows: each
  // size's loop claims the partition anew, and its actors push the long stream out of the cache.
  const ceiling = new DecisionCeiling(storage, actors)
  for (const cycle of [64, 256, 1000]) {
    const { rps, cpuMsPerCommand } = await ceiling.run(cycle, { commands: size.walks * 4 })
    row(
      `decide + append, ${size.walks.toLocaleString('en')} shipments × 4, ${cycle} commands per cycle, in process`,
      `${Math.round(rps).toLocaleString('en')} commands/s (CPU ${(cpuMsPerCommand * 1000).toFixed(0)} µs per command)`,
    )
  }

  // Rebuild and verify over the whole log.
  const events = await store.events.lastPosition()
  let started = performance.now()
  await store.rebuildProjections()
  row(`projection rebuild, ${events.toLocaleString('en')} events`, `${Math.round(events / ((performance.now() - started) / 1000)).toLocaleString('en')} events/s`)
  started = performance.now()
  const report = await verify(store)
  row(`verify (I2 + I5), ${report.events.toLocaleString('en')} events, ${report.problems.length} problems`, `${Math.round(report.events / ((performance.now() - started) / 1000)).toLocaleString('en')} events/s`)
  await storage.close()
  return lines
}
