import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { threadId } from 'node:worker_threads'
import { sagaFaults, type FaultPoint } from '../../src/faults.js'
import { RedisUnavailableError } from '../../src/queue/redis.js'
import type { Storage } from '../../src/storage.js'
import { openSimStorage } from './storage.js'
import { checkHistory, History } from '../helpers/history.js'
import { dockScanner, FeedConsumer, type Client, offlineDevice, offlineWork, onlineScanner, type ClientWorld } from './clients.js'
import { SimProcess, SimulatedCrash, type ProcessConfig, type ProcessWorld } from './process.js'
import { Rng } from './prng.js'
import { SimRedis, type RedisFaultRates } from './redis.js'
import { capacityProblems, feedProblems, orderProblems } from './verdict.js'
import { Scheduler } from './scheduler.js'

/**
 * One seed of the simulation, from the seed to the verdict:
 *
 *   1. the seed chooses the world — partitions, processes, batch size, snapshots, cache, reply
 *      timeout, leases — the clients (scanners, docks, offline devices, a feed consumer) and a fault
 *      profile (crash rate and budget, locked/full database, Redis misbehaviour, chaos events);
 *   2. the world runs in simulated time until every client is done, with chaos: processes killed at
 *      any reached point or from outside, stopped cleanly, paused past their leases (zombies),
 *      restarted; Redis flushed, down, cut off from one process; clocks stepped back and forward;
 *   3. it heals (faults off, everything up) and runs until nothing is undecided;
 *   4. the history checker, `verify`, the feed and capacity checks judge the database and what
 *      every client was told.
 *
 * Deterministic: the same seed gives the same schedule (`trace`) and the same result (`signature`,
 * which leaves out the random parts of command ids).
 */
export type Control = 'fence' | 'dedupe' | 'saga'

export interface SeedOptions {
  readonly control?: Control
  /** Where the seed's database lives (default: /dev/shm when it exists). */
  readonly dir?: string
  /** Called with what happens (process lives, chaos, client requests), for a replay's story. */
  readonly log?: (line: string) => void
  /** Keeps the seed's database (its path is in the result) instead of deleting it. */
  readonly keep?: boolean
  /** Computes the result's signature (for determinism checks; costs a pass over the database). */
  readonly signature?: boolean
}

export interface SeedResult {
  readonly seed: number
  readonly control: Control | undefined
  /** No problem at all. */
  readonly ok: boolean
  readonly problems: string[]
  readonly kinds: Record<string, number>
  /** Logged errors no injected fault explains (reported, not counted as violations). */
  readonly anomalies: string[]
  readonly coverage: SeedCoverage
  readonly signature: string
  readonly trace: string
  readonly simMs: number
  readonly wallMs: number
  readonly summary: string
  /** Where the wall time went (ms). */
  readonly timing: { active: number; heal: number; check: number }
  /** The database, when kept. */
  readonly file?: string
}

export interface SeedCoverage {
  /** Every point reached (crash candidates), with how often. */
  readonly reached: Record<string, number>
  /** Points a crash was injected at. */
  readonly crashedAt: Record<string, number>
  /** Faults injected, by kind. */
  readonly faults: Record<string, number>
  /** What the clients saw and the log holds: statuses, late scans, saga paths, ASSIGN/DEPART orders. */
  readonly seen: Record<string, number>
}

interface Profile {
  readonly crashRate: number
  readonly maxCrashes: number
  readonly busyRate: number
  readonly fullRate: number
  readonly failRate: number
  readonly redis: RedisFaultRates
  readonly chaos: ReadonlyArray<readonly [string, number]>
  readonly chaosEveryMs: number
}

export interface WorldConfig extends ProcessConfig {
  readonly processes: number
  readonly maxProcesses: number
  readonly shipments: number
  readonly scannersPerShipment: number
  readonly commands: number
  readonly docks: number
  readonly capacity: number
  readonly trips: number
  readonly offlineDevices: number
  readonly offlineItems: number
  readonly profile: Profile
}

function worldOf(rng: Rng, control: Control | undefined): WorldConfig {
  const leaseMs = rng.pick([500, 1000, 1500])
  const pick = <T>(xs: readonly T[]) => rng.pick(xs)
  const calm = rng.chance(0.1)
  const profile: Profile = {
    crashRate: calm ? 0 : pick([0.002, 0.005, 0.01, 0.02]),
    maxCrashes: calm ? 0 : rng.range(1, 5),
    busyRate: pick([0, 0, 0.01, 0.05]),
    fullRate: pick([0, 0, 0, 0.01]),
    failRate: pick([0, 0, 0, 0.02, 0.1]),
    redis: {
      wakeLost: pick([0, 0.05, 0.3]),
      wakeDuplicated: pick([0, 0.05, 0.3]),
      wakeDelayed: pick([0, 0.05, 0.2]),
      wakeReordered: pick([0, 0.2]),
      replyLost: pick([0, 0, 0.01, 0.05]),
      slowReply: pick([0, 0.02, 0.1]),
      decidedLost: pick([0, 0.1, 0.5]),
    },
    chaos: calm
      ? [['nothing', 1]]
      : [
          ['nothing', 4],
          ['kill', pick([0, 1, 2])],
          ['stop', pick([0, 1])],
          ['pause', pick([0, 1, 3])],
          ['flush', pick([0, 1])],
          ['redis-down', pick([0, 1])],
          ['cut-off', pick([0, 1, 2])],
          ['clock-back', pick([0, 1, 2])],
          ['clock-forward', pick([0, 1])],
          ['start', pick([0, 1])],
          ['busy', pick([0, 1])],
        ],
    chaosEveryMs: pick([100, 300, 800]),
  }
  // Split brain (every process claims every partition; only the fencing epochs keep it safe): some
  // seeds, and always for the fence's negative control, with two processes at least.
  const ignoreLeases = control === 'fence' || rng.chance(0.1)
  const processes = ignoreLeases ? rng.range(2, 3) : rng.range(1, 3)
  return {
    partitions: pick([1, 2, 3, 4, 6]),
    batchMax: pick([1, 2, 4, 8, 64]),
    snapshotEvery: pick([2, 3, 5, 16]),
    actorCacheSize: pick([0, 3, 100]),
    replyTimeoutMs: pick([50, 200, 600, 1500]),
    leaseMs,
    tickMs: Math.round(leaseMs / pick([3, 4])),
    maxAttempts: rng.range(3, 5),
    noFence: control === 'fence',
    noDedupe: control === 'dedupe',
    ignoreLeases,
    processes,
    maxProcesses: Math.max(processes, rng.range(1, 3)),
    shipments: rng.range(2, 6),
    scannersPerShipment: rng.range(1, 2),
    commands: rng.range(3, 7),
    docks: rng.range(0, 2),
    capacity: rng.range(1, 3),
    trips: rng.range(1, 2),
    offlineDevices: rng.chance(0.6) ? 1 : 0,
    offlineItems: rng.range(3, 12),
    profile,
  }
}

/** A migrated empty database, made once per process and copied for each seed. */
let template: { dir: string; file: string } | null = null

async function templateDb(dir: string): Promise<string> {
  if (template?.dir === dir && existsSync(template.file)) return template.file
  const file = join(dir, `waybill-sim-template-${process.pid}-${threadId}.db`)
  rmSync(file, { force: true })
  const storage = await openSimStorage(file, 1000)
  ;(storage.store as unknown as { db: { pragma(s: string): unknown } }).db.pragma('wal_checkpoint(TRUNCATE)')
  await storage.close()
  template = { dir, file }
  return file
}

export function defaultDir(): string {
  const dir = existsSync('/dev/shm') ? '/dev/shm' : tmpdir()
  mkdirSync(dir, { recursive: true })
  return dir
}

const removeDb = (file: string) => {
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true })
}

const inc = (map: Record<string, number>, key: string, by = 1) => void (map[key] = (map[key] ?? 0) + by)

export async function runSeed(seed: number, options: SeedOptions = {}): Promise<SeedResult> {
  const started = performance.now()
  const timing = { active: 0, heal: 0, check: 0 }
  const dir = options.dir ?? defaultDir()
  const file = join(dir, `waybill-sim-${process.pid}-${threadId}-${seed}.db`)
  removeDb(file)
  copyFileSync(await templateDb(dir), file)

  const root = new Rng(seed)
  const config = worldOf(root.fork('world'), options.control)
  const crashRng = root.fork('crashes')
  const faultRng = root.fork('faults')
  const chaosRng = root.fork('chaos')
  const coverage: SeedCoverage = { reached: {}, crashedAt: {}, faults: {}, seen: {} }
  const problems: string[] = []
  const anomalies: string[] = []
  const log = options.log
  const count = (fault: string) => {
    inc(coverage.faults, fault)
    log?.(`${Math.round(sched.now)} fault ${fault}`)
  }
  const seen = (what: string, by = 1) => inc(coverage.seen, what, by)

  const sched = new Scheduler(root.fork('schedule'), { cpuMsRate: 0.3, isCrash: (e) => e instanceof SimulatedCrash })
  const redis = new SimRedis(sched, root.fork('redis'), config.profile.redis, count, config.leaseMs * 2)
  const epoch = Date.UTC(2026, 11, 1, 8, 0, 0)
  let faultsOn = true
  let crashes = 0
  let busyUntil = -1
  /** Per process incarnation: how often each point was reached (the first reaches are likelier crash points). */
  const reachedBy = new WeakMap<SimProcess, Map<string, number>>()
  const processes: Array<SimProcess | null> = Array.from({ length: 3 }, () => null)
  const incarnations = [0, 0, 0]
  const restarts = new Set<number>()

  const world: ProcessWorld = {
    sched, redis, file, epoch, config,
    ...(log ? { log: (line: string) => log(`${Math.round(sched.now)} ${line}`) } : {}),
    reach(p, label) {
      inc(coverage.reached, label)
      if (!faultsOn || crashes >= config.profile.maxCrashes || config.profile.crashRate === 0) return false
      let counts = reachedBy.get(p)
      if (!counts) reachedBy.set(p, (counts = new Map()))
      const n = (counts.get(label) ?? 0) + 1
      counts.set(label, n)
      if (!crashRng.chance(config.profile.crashRate / Math.sqrt(n))) return false
      crashes++
      inc(coverage.crashedAt, label)
      log?.(`${Math.round(sched.now)} ${p.name} crashes at ${label}`)
      count('crash')
      return true
    },
    fail(_p, point: FaultPoint) {
      if (!faultsOn || !faultRng.chance(config.profile.failRate)) return false
      count(`fail:${point}`)
      return true
    },
    transient(_p, method) {
      if (!faultsOn) return null
      const rate = sched.now < busyUntil ? 0.5 : config.profile.busyRate
      if (faultRng.chance(rate)) {
        count('db-locked')
        return Object.assign(new Error(`database is locked (simulated, ${method})`), { code: 'SQLITE_BUSY' })
      }
      if (faultRng.chance(config.profile.fullRate)) {
        count('db-full')
        return Object.assign(new Error(`database or disk is full (simulated, ${method})`), { code: 'SQLITE_FULL' })
      }
      return null
    },
    anomaly(p, text) {
      if (anomalies.length < 50) anomalies.push(`${p.name}: ${text}`)
    },
    died(p, how) {
      log?.(`${Math.round(sched.now)} ${p.name} ${how === 'crash' ? 'killed' : 'stopped'}`)
      count(how === 'crash' ? 'process-killed' : 'process-stopped')
      const slot = processes.indexOf(p)
      if (slot >= 0) scheduleRestart(slot, faultsOn ? 50 + chaosRng.int(1500) : 0)
    },
  }

  const startProcess = (slot: number) => {
    const p = new SimProcess(world, `p${slot + 1}.${++incarnations[slot]!}`)
    processes[slot] = p
    log?.(`${Math.round(sched.now)} ${p.name} starts`)
    sched.as(p.owner, () => {
      p.start().catch((error: unknown) => {
        // A failed start (the database locked at that moment, a crash while starting): it exits.
        if (p.alive) {
          if (!(error instanceof SimulatedCrash) && !(error as { code?: string }).code?.startsWith('SQLITE_') && !(error instanceof RedisUnavailableError)) {
            anomalies.push(`${p.name} failed to start: ${String(error)}`)
          }
          log?.(`${Math.round(sched.now)} ${p.name} failed to start: ${String(error)}`)
          count('start-failed')
          p.crash()
        }
      })
    })
    if (incarnations[slot]! > 1) count('process-restarted')
  }
  const scheduleRestart = (slot: number, delay: number) => {
    if (restarts.has(slot)) return
    restarts.add(slot)
    sched.timeout(
      () => {
        restarts.delete(slot)
        if (!processes[slot]?.alive) startProcess(slot)
      },
      delay,
      [],
      sched.sim,
    )
  }

  // Clients.
  const history = new History()
  let clientTick = 0
  const clientWorld: ClientWorld = {
    sched, history, epoch,
    route(rng) {
      const ready = processes.filter((p): p is SimProcess => p !== null && p.alive && p.ready)
      return ready.length === 0 ? null : rng.pick(ready)
    },
    clientNow: () => sched.now + ++clientTick * 1e-6,
    ...(log ? { log: (line: string) => log(`${Math.round(sched.now)} ${line}`) } : {}),
    count: (what) => seen(what),
    problem: (text) => problems.push(text),
  }
  const clientsRng = root.fork('clients')
  const docks = Array.from({ length: config.docks }, (_, i) => `D${i + 1}`)
  const trucks = [...docks, 'X1']
  const shipments = Array.from({ length: config.shipments }, (_, i) => `S${i + 1}`)
  const clients: Array<Promise<void>> = []
  const client = (name: string, rng: Rng, run: (c: Client) => Promise<void>) => {
    const owner = sched.owner(name)
    clients.push(
      sched.as(owner, () => run({ w: clientWorld, rng, owner })).catch((error: unknown) => {
        problems.push(`CLIENT ${name} failed: ${String((error as Error)?.stack ?? error)}`)
      }),
    )
  }

  sched.install()
  const onRejection = (reason: unknown) => {
    if (!(reason instanceof SimulatedCrash)) anomalies.push(`unhandled rejection: ${String((reason as Error)?.stack ?? reason)}`)
  }
  process.on('unhandledRejection', onRejection)
  sagaFaults.nonIdempotent = options.control === 'saga'
  sagaFaults.built.clear()
  let observer: Storage | null = null
  let done = 0
  try {
    observer = await openSimStorage(file)
    // Each in a task of its own (two opening at once in one turn would find the database locked).
    for (let slot = 0; slot < config.processes; slot++) sched.timeout(() => startProcess(slot), slot, [], sched.sim)

    for (const truckId of docks) client(`dock-${truckId}`, clientsRng.fork(truckId), (c) => dockScanner(c, { truckId, capacity: config.capacity, trips: config.trips }))
    for (const shipmentId of shipments) {
      for (let s = 0; s < config.scannersPerShipment; s++) {
        const scannerId = `${shipmentId}-s${s}`
        client(scannerId, clientsRng.fork(scannerId), (c) => onlineScanner(c, { scannerId, shipmentId, commands: config.commands, trucks }))
      }
    }
    for (let d = 0; d < config.offlineDevices; d++) {
      const deviceId = `hand-${d + 1}`
      const rng = clientsRng.fork(deviceId)
      const items = offlineWork(clientWorld, rng, shipments, trucks, docks, config.offlineItems)
      client(deviceId, rng, (c) => offlineDevice(c, { deviceId, items, chunk: rng.range(2, 5), resendRate: rng.pick([0, 0.2, 0.5]), asyncRate: rng.pick([0, 0.3]) }))
    }
    const feed = new FeedConsumer(clientWorld, clientsRng.fork('feed'))
    feed.start()
    void Promise.all(clients).then(() => (done = 1))

    // Chaos, while the clients work.
    const chaosOwner = sched.owner('chaos')
    const paused = new Set<SimProcess>()
    const live = () => processes.filter((p): p is SimProcess => p !== null && p.alive)
    const chaosStep = () => {
      if (!faultsOn) return
      const event = chaosRng.weighted(config.profile.chaos)
      const target = live().length > 0 ? chaosRng.pick(live()) : null
      switch (event) {
        case 'kill':
          if (target && crashes < config.profile.maxCrashes + 2) {
            crashes++
            count('kill-from-outside')
            target.crash()
          }
          break
        case 'stop':
          if (target?.ready) {
            count('graceful-stop')
            void sched.as(target.owner, () => target.stop())
          }
          break
        case 'pause':
          if (target && !paused.has(target)) {
            count('pause')
            paused.add(target)
            sched.pause(target.owner)
            sched.timeout(() => (paused.delete(target), sched.resume(target.owner)), config.leaseMs / 2 + chaosRng.int(config.leaseMs * 3), [], chaosOwner)
          }
          break
        case 'flush':
          count('redis-flush')
          redis.flush()
          break
        case 'redis-down':
          if (redis.up) {
            count('redis-down')
            redis.setUp(false)
            const flush = chaosRng.chance(0.5)
            sched.timeout(() => (flush && redis.flush(), redis.setUp(true)), 100 + chaosRng.int(2000), [], chaosOwner)
          }
          break
        case 'cut-off':
          if (target && !redis.cutOff.has(target.name)) {
            count('redis-cut-off')
            redis.setCutOff(target.name, true)
            sched.timeout(() => redis.setCutOff(target.name, false), 100 + chaosRng.int(3000), [], chaosOwner)
          }
          break
        case 'clock-back':
          if (target) {
            count('clock-step-back')
            target.skew -= 50 + chaosRng.int(5000)
          }
          break
        case 'clock-forward':
          if (target) {
            count('clock-step-forward')
            target.skew += 50 + chaosRng.int(3000)
          }
          break
        case 'start': {
          const slot = processes.findIndex((p, i) => i < config.maxProcesses && (p === null || !p.alive))
          if (slot >= 0 && !restarts.has(slot)) {
            count('process-added')
            startProcess(slot)
          }
          break
        }
        case 'busy':
          count('db-locked-burst')
          busyUntil = sched.now + 50 + chaosRng.int(400)
          break
      }
    }
    const chaosLoop = () => {
      chaosStep()
      if (faultsOn) sched.timeout(chaosLoop, chaosRng.int(config.profile.chaosEveryMs * 2), [], chaosOwner)
    }
    sched.timeout(chaosLoop, chaosRng.int(config.profile.chaosEveryMs), [], chaosOwner)

    // An administrator retries parked streams (a stream parks after repeated failures, by design).
    const admin = sched.owner('admin')
    const adminLoop = async () => {
      try {
        for (const parked of await observer!.store.parking.list()) {
          if (await observer!.store.parking.retry(parked.streamId).catch(() => undefined)) seen('parked-and-retried')
        }
      } catch {
        // locked: next round
      }
      sched.timeout(() => void adminLoop(), 300, [], admin)
    }
    sched.timeout(() => void adminLoop(), 300, [], admin)

    const activeLimit = 120_000
    const t1 = performance.now()
    const outcome = await sched.run(() => done === 1, activeLimit)
    timing.active = performance.now() - t1
    if (outcome !== 'stopped') problems.push(`STUCK the clients did not finish (${outcome} at ${sched.now} ms)`)

    // Heal: no more faults; everything up and reachable; every slot runs a process.
    faultsOn = false
    for (const p of paused) sched.resume(p.owner)
    redis.setUp(true)
    for (const name of [...redis.cutOff]) redis.setCutOff(name, false)
    for (let slot = 0; slot < Math.max(1, config.processes); slot++) if (!processes[slot]?.alive) scheduleRestart(slot, slot)
    seen('healed-at-ms', Math.round(sched.now))

    // Run until nothing is undecided (and the feed consumer caught up).
    let pending = -1
    let settledAt = -1
    const probe = sched.owner('probe')
    const probeLoop = async () => {
      pending = await observer!.store.inbox.countPending().catch(() => pending)
      if (pending === 0 && settledAt < 0) {
        settledAt = sched.now
        feed.poke()
      }
      sched.timeout(() => void probeLoop(), 100, [], probe)
    }
    sched.timeout(() => void probeLoop(), 100, [], probe)
    const end = sched.now + 120_000
    const t2 = performance.now()
    const drained = await sched.run(() => pending === 0 && settledAt >= 0 && sched.now >= settledAt + 600, end)
    timing.heal = performance.now() - t2
    if (drained !== 'stopped') problems.push(`STUCK ${pending} commands still undecided ${Math.round(sched.now)} ms into the run (${drained})`)
    const simMs = sched.now

    // A task that threw (a real process would have died of an uncaught exception).
    for (const error of sched.uncaught.slice(0, 5)) anomalies.push(`uncaught in a task: ${String((error as Error)?.stack ?? error)}`)

    // Every process goes away; the database keeps what committed.
    for (const p of processes) p?.halt()
    await sched.run(() => true, sched.now)
    for (const p of processes) await p?.raw?.close().catch(() => {})
    sched.uninstall()

    // The verdict, read through the observer's connection (the only one left).
    const t3 = performance.now()
    const storage = observer
    observer = null
    try {
      const checked = await checkHistory(storage, history)
      problems.push(...checked.problems)
      problems.push(...(await feedProblems(storage, feed.positions)))
      problems.push(...(await capacityProblems(storage)))
      problems.push(...(await orderProblems(storage)))
      await interleavings(storage, seen)
      const signature = options.signature ? await signatureOf(storage, history) : ''
      timing.check = performance.now() - t3
      const kinds: Record<string, number> = {}
      for (const p of problems) inc(kinds, p.split(' ')[0]!)
      for (const [k, n] of Object.entries(checked.kinds)) kinds[k] = Math.max(kinds[k] ?? 0, n)
      const summary = `${config.processes}p${config.ignoreLeases ? ' (split brain)' : ''}/${config.partitions}parts batch ${config.batchMax} · ${checked.stats.commands} commands, ${checked.stats.attempts} attempts, ${checked.stats.events} events · ${crashes} crashes · sim ${(simMs / 1000).toFixed(1)} s · ${sched.steps} steps`
      return {
        seed, control: options.control, ok: problems.length === 0, problems, kinds, anomalies, coverage, signature,
        trace: `${sched.steps}:${(sched.trace >>> 0).toString(16)}`, simMs, wallMs: performance.now() - started, summary, timing,
        ...(options.keep ? { file } : {}),
      }
    } finally {
      await storage.close()
    }
  } finally {
    sched.uninstall()
    process.off('unhandledRejection', onRejection)
    sagaFaults.nonIdempotent = false
    sagaFaults.built.clear()
    await observer?.close().catch(() => {})
    for (const p of processes) await p?.raw?.close().catch(() => {})
    if (!options.keep) removeDb(file)
  }
}

/** What happened between shipments and trucks (coverage): saga paths and ASSIGN/DEPART orders. */
async function interleavings(storage: Storage, seen: (what: string, by?: number) => void): Promise<void> {
  const { sql } = storage.store
  for (const r of await sql.all<{ type: string; status: string; reason: string | null; n: number }>(
    `SELECT type, status, reason, count(*) AS n FROM commands GROUP BY type, status, reason`,
  )) {
    seen(`${r.type} ${r.status}${r.reason ? ` ${r.reason}` : ''}`, r.n)
  }
  const late = await sql.get<{ n: number; batched: number }>(`SELECT count(*) AS n, sum(device_seq IS NOT NULL) AS batched FROM commands WHERE late = 1`)
  if (late!.n > 0) seen('late scans', late!.n)
  if ((late!.batched ?? 0) > 0) seen('late scans in batches', late!.batched)
  // Each ASSIGN to an opened truck against that truck's departures: taken in before or after the
  // DEPART, and its place taken (ShipmentLoaded) before the departure, or refused because it left.
  const departs = await sql.all<{ stream_id: string; seq: number; position: number }>(
    `SELECT c.stream_id, c.seq, c.event_position AS position FROM commands c WHERE c.type = 'DEPART' AND c.status = 'accepted'`,
  )
  const assigns = await sql.all<{ seq: number; stream_id: string; truck: string; status: string; reason: string | null; loaded: number | null }>(
    `SELECT c.seq, c.stream_id, json_extract(c.payload, '$.truckId') AS truck, c.status, c.reason,
            (SELECT min(e.position) FROM events e WHERE e.stream_id = 'truck:' || json_extract(c.payload, '$.truckId') AND e.type = 'ShipmentLoaded'
               AND e.position > coalesce((SELECT max(o.position) FROM events o WHERE o.stream_id = 'truck:' || json_extract(c.payload, '$.truckId') AND o.type = 'TruckReturned' AND o.position < c.event_position), 0)
               AND json_extract(e.data, '$.shipmentId') = c.stream_id AND e.position <= coalesce(c.event_position, 1e18)) AS loaded
     FROM commands c WHERE c.type = 'ASSIGN'`,
  )
  for (const d of departs) {
    const truck = d.stream_id.slice('truck:'.length)
    for (const a of assigns) {
      if (a.truck !== truck || Math.abs(a.seq - d.seq) > 12) continue
      const taken = a.seq < d.seq ? 'ASSIGN taken in before DEPART' : 'ASSIGN taken in after DEPART'
      const result =
        a.status === 'accepted' ? (a.loaded !== null && a.loaded < d.position ? 'loaded before it left' : 'loaded after (next trip)') : a.status === 'rejected' ? `refused ${a.reason}` : 'undecided'
      seen(`${taken}, ${result}`)
    }
  }
  const waited = await sql.get<{ n: number }>(`SELECT count(*) AS n FROM commands WHERE type = 'DEPART_NOW'`)
  if (waited!.n > 0) seen('DEPART waited for held places', waited!.n)
}

/** The result without the random parts of command ids: commands, events and answers, hashed. */
async function signatureOf(storage: Storage, history: History): Promise<string> {
  const { sql } = storage.store
  const commands = await sql.all<Record<string, unknown> & { command_id: string; seq: number }>(
    `SELECT seq, command_id, stream_id, type, payload, device_id, idempotency_key, device_seq, status, reason, late, stream_version FROM commands ORDER BY seq`,
  )
  const ids = new Map(commands.map((c) => [c.command_id, `#${c.seq}`]))
  const idPattern = /[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}/g
  const normal = (value: unknown) => JSON.stringify(value).replace(idPattern, (id) => ids.get(id) ?? '#?')
  const hash = createHash('sha256')
  for (const c of commands) hash.update(normal({ ...c, command_id: null }))
  for (const e of await sql.all('SELECT position, stream_id, version, type, data, recorded_at FROM events ORDER BY position')) hash.update(normal(e))
  for (const a of history.attempts) hash.update(normal([a.key, a.attempt, a.status ?? null, a.error ?? null, a.response?.outcome ?? null, a.response?.reason ?? null, a.sentAt, a.answeredAt ?? null]))
  return hash.digest('hex').slice(0, 16)
}
