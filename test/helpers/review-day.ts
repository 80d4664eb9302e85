import { randomUUID } from 'node:crypto'
import { truckStream } from '../../machines/kinds.js'
import type { Store } from '../../src/store/store.js'
import type { CommandMetadata, CommandPayload, NewCommand } from '../../src/store/types.js'
import { localLoop, type LocalLoop } from './decider.js'

/**
 * A depot's working days, written through the real decision core (no Redis, no HTTP) on a clock set
 * by the plan: ~470 shipments a day to 8 destinations, 6 scanners, 8 operators, 12 opened trucks that
 * depart twice a day with their load and come back, scanners' SHIPs for shipments on trucks that were
 * never opened, deliveries hours later, a few cancellations, and the day's ~200 refused scans: deliveries
 * scanned too early, repeated registrations and assignments, SHIPs of shipments waiting for their
 * truck, unknown parcels, full trucks, and late scans from a handheld that was offline.
 *
 * What the machines decide is what happens (the plan only proposes scans); tests compare what the
 * page shows with what the API answers, never with this plan. Deterministic for a seed.
 */
export const cities = ['Lyon', 'Paris', 'Lille', 'Nantes', 'Bordeaux', 'Marseille', 'Strasbourg', 'Toulouse'] as const
export const devices = ['scanner-1', 'scanner-2', 'scanner-3', 'scanner-4', 'scanner-5', 'scanner-6'] as const
export const operators = ['op-1', 'op-2', 'op-3', 'op-4', 'op-5', 'op-6', 'op-7', 'op-8'] as const
/** The handheld that works offline: its scans arrive in batches, 40 minutes late. */
export const offlineDevice = 'scanner-6'
export const truckIds = Array.from({ length: 12 }, (_, i) => `T${String(i + 1).padStart(2, '0')}`)

const minute = 60_000
const hour = 60 * minute

export interface Operation {
  readonly at: number
  readonly streamId: string
  readonly payload: CommandPayload
  readonly metadata: CommandMetadata
}

/** A small seeded PRNG (mulberry32). */
export function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface DayOptions {
  /** Local midnight of the day (epoch ms). */
  readonly start: number
  /** Shipment ids are `<prefix>-<n>`. */
  readonly prefix: string
  readonly shipments?: number
  readonly seed?: number
  /** The trucks are opened on the first day only. */
  readonly openTrucks?: boolean
}

/**
 * One day's scans, in time order. Trucks depart at their two slots with whatever is on them (the plan
 * tracks loads only to propose sensible assignments; the truck's machine has the last word).
 */
export function planDay(options: DayOptions): Operation[] {
  const { start, prefix } = options
  const count = options.shipments ?? 470
  const rnd = random(options.seed ?? 1)
  const pick = <T>(list: readonly T[]) => list[Math.floor(rnd() * list.length)]!
  const between = (from: number, to: number) => from + Math.floor(rnd() * (to - from))
  const ops: Operation[] = []
  const scan = (at: number, streamId: string, payload: CommandPayload, who: { device?: string; operator?: string; scannedAt?: number } = {}) => {
    const device = who.device ?? pick(devices.slice(0, 5))
    const morning = at - start < 13 * hour
    const operator = who.operator ?? pick(morning ? operators.slice(0, 4) : operators.slice(4))
    ops.push({ at, streamId, payload, metadata: { deviceId: device, operatorId: operator, scannedAt: new Date(who.scannedAt ?? at - 2000).toISOString() } })
  }

  // Trucks: truck k serves city k % 8; capacity 30–60 (two small vans of 8 that the planners overfill:
  // the depot learns of `truck_full`); departs at its two slots, back 90 minutes later.
  const trucks = truckIds.map((truckId, k) => {
    const first = start + 9 * hour + k * 20 * minute
    const capacity = k >= 10 ? 8 : 30 + ((k * 7) % 31)
    return { truckId, city: cities[k % cities.length]!, capacity, planned: k >= 10 ? 14 : capacity, departures: [first, first + 7 * hour], load: 0 }
  })
  for (const truck of trucks) {
    if (options.openTrucks) scan(start + 5 * hour, truckStream(truck.truckId), { type: 'OPEN', capacity: truck.capacity, destination: truck.city }, { device: 'scanner-1', operator: 'op-1' })
    else scan(start + 5 * hour, truckStream(truck.truckId), { type: 'RETURN' }, { device: 'scanner-1', operator: 'op-1' })
    for (const [i, at] of truck.departures.entries()) {
      scan(at, truckStream(truck.truckId), { type: 'DEPART' }, { device: 'scanner-2', operator: at - start < 13 * hour ? 'op-2' : 'op-6' })
      // Back at the dock 90 minutes later, except after the last run of the day (it returns next morning).
      if (i === 0) scan(at + 90 * minute, truckStream(truck.truckId), { type: 'RETURN' }, { device: 'scanner-2', operator: 'op-2' })
    }
  }
  const loadingAt = (truck: (typeof trucks)[number], at: number) => {
    const [first, second] = truck.departures as [number, number]
    return at < first || (at > first + 90 * minute && at < second)
  }

  for (let n = 1; n <= count; n++) {
    const id = `${prefix}-${n}`
    const registered = start + 6 * hour + Math.floor(((n - 0.5) / count) * 12 * hour)
    const city = rnd() < 0.05 ? undefined : pick(cities)
    scan(registered, id, { type: 'REGISTER', origin: 'Depot', ...(city ? { destination: city } : {}) })
    const roll = rnd()
    if (roll < 0.06) scan(registered + 3 * minute, id, { type: 'REGISTER', origin: 'Depot' }) // scanned twice
    if (roll > 0.9) scan(registered + 4 * minute, id, { type: 'DELIVER' }) // far too early
    if (rnd() < 0.03) {
      scan(registered + between(10, 60) * minute, id, { type: 'CANCEL', reason: 'customer request' })
      // The offline handheld had assigned it before the cancellation: refused when it syncs, late.
      if (rnd() < 0.5) scan(registered + 70 * minute, id, { type: 'ASSIGN', truckId: 'T01' }, { device: offlineDevice, scannedAt: registered + 5 * minute })
      continue
    }
    const assigned = registered + between(5, 60) * minute
    const open = trucks.filter((t) => t.city === city && loadingAt(t, assigned) && t.load < t.planned)
    const truck = open.length > 0 ? pick(open) : undefined
    if (truck) {
      truck.load++
      scan(assigned, id, { type: 'ASSIGN', truckId: truck.truckId })
      if (rnd() < 0.06) scan(assigned + 2 * minute, id, { type: 'ASSIGN', truckId: truck.truckId }) // same truck again
      if (rnd() < 0.1) scan(assigned + 5 * minute, id, { type: 'SHIP' }) // it waits for its truck
      const departed = truck.departures.find((d) => d > assigned)
      if (departed !== undefined) {
        if (departed === truck.departures[0]) truck.load = 0
        const delivered = departed + between(2 * 60, 8 * 60) * minute
        scan(delivered, id, { type: 'DELIVER', receivedBy: 'front desk' })
        // The offline handheld scanned the delivery too, a minute before it was recorded: refused, late, when it syncs.
        if (rnd() < 0.06) scan(delivered + 40 * minute, id, { type: 'DELIVER' }, { device: offlineDevice, scannedAt: delivered - minute })
      }
    } else {
      // No opened truck for it: a truck id only (scanned as shipped by hand).
      const vehicle = `V-${city ?? 'local'}`
      scan(assigned, id, { type: 'ASSIGN', truckId: vehicle })
      const shipped = assigned + between(30, 120) * minute
      scan(shipped, id, { type: 'SHIP' })
      scan(shipped + between(2 * 60, 6 * 60) * minute, id, { type: 'DELIVER' })
    }
  }
  // Parcels nobody registered.
  for (let n = 1; n <= Math.round(count / 24); n++) scan(start + 7 * hour + n * 25 * minute, `${prefix}-X${n}`, { type: 'DELIVER' })
  // Fill each truck's depart slot order: a stable sort by time (same-minute scans keep plan order).
  return ops.map((op, i) => ({ op, i })).sort((a, b) => a.op.at - b.op.at || a.i - b.i).map(({ op }) => op)
}

/**
 * Runs operations through a local decision loop, a group per `resolutionMs` (the clock is set to the
 * group's time: commands are received, decided and recorded then), until nothing is pending.
 * Operations after `until` are left out (a day still going).
 */
export async function runOperations(loop: LocalLoop, store: Store, ops: readonly Operation[], options: { resolutionMs?: number; until?: number } = {}): Promise<number> {
  const resolution = options.resolutionMs ?? minute
  let sent = 0
  let group: NewCommand[] = []
  let groupAt = -1
  const flush = async () => {
    if (group.length === 0) return
    loop.clock.now = groupAt
    const submitted = group.map((command) => loop.intake.submit(command))
    group = []
    await settle(loop, store)
    await Promise.all(submitted)
    await settle(loop, store)
  }
  for (const op of ops) {
    if (options.until !== undefined && op.at > options.until) break
    const at = Math.floor(op.at / resolution) * resolution
    if (at !== groupAt) {
      await flush()
      groupAt = at
    }
    group.push({ commandId: randomUUID(), streamId: op.streamId, partition: 0, payload: op.payload, metadata: op.metadata, idempotencyKey: null, requestHash: null, receivedAt: at })
    sent++
  }
  await flush()
  return sent
}

/** Kicks until no command is pending (messages between actors make more work after a cycle). */
async function settle(loop: LocalLoop, store: Store): Promise<void> {
  for (let round = 0; round < 1000; round++) {
    await loop.worker.kick()
    const pending = (await store.sql.get<{ n: number }>("SELECT count(*) AS n FROM commands WHERE status = 'pending'"))!.n
    if (pending === 0) return
  }
  throw new Error('commands stay pending after 1000 drain passes')
}

/** A local loop on `store` that owns its only partition, on a clock the plan sets. */
export async function dayLoop(store: Store): Promise<LocalLoop> {
  const loop = localLoop(store, { batchMax: 256, snapshotEvery: 64, clock: { now: 0, tick: false } })
  await loop.claim('seed', 0)
  return loop
}

const day = 24 * hour

/**
 * A timezone (for the browser) in which it is afternoon now, and that zone's midnight today (epoch
 * ms): a seeded "today" then has a morning and an afternoon whatever time the test runs at.
 */
export function afternoonZone(now: number): { timezoneId: string; offsetHours: number; midnight: number } {
  const utcHour = new Date(now).getUTCHours()
  // Local hour = UTC hour + offset; aim at 16:00 (offsets −12 … +14 exist as Etc/GMT∓n).
  let offsetHours = 16 - utcHour
  if (offsetHours > 14) offsetHours -= 24
  if (offsetHours < -12) offsetHours += 24
  const local = now + offsetHours * hour
  const midnight = Math.floor(local / day) * day - offsetHours * hour
  // Etc/GMT zones have the sign the other way round (Etc/GMT-3 is UTC+3).
  const timezoneId = offsetHours === 0 ? 'Etc/GMT' : `Etc/GMT${offsetHours > 0 ? '-' : '+'}${Math.abs(offsetHours)}`
  return { timezoneId, offsetHours, midnight }
}

/**
 * A week ago, yesterday and today until `now` (midnight = today's local midnight), written into
 * `store`: what the browser and API tests review. Returns the operations sent per day.
 */
export async function seedReviewDays(store: Store, midnight: number, now: number, options: { shipments?: number } = {}): Promise<{ sent: number }> {
  const loop = await dayLoop(store)
  let sent = 0
  const days = [
    { start: midnight - 7 * day, prefix: 'W', openTrucks: true, seed: 7 },
    { start: midnight - day, prefix: 'Y', openTrucks: false, seed: 2 },
    { start: midnight, prefix: 'S', openTrucks: false, seed: 1 },
  ]
  for (const d of days) sent += await runOperations(loop, store, planDay({ ...d, shipments: options.shipments ?? 470 }), { until: now })
  await loop.worker.stop()
  return { sent }
}
