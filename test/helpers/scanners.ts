import type { ShipmentCommand } from '../../machines/shipment/index.js'
import { clientClock, seqKey, type AnswerBody, type Attempt, type History } from './history.js'
import { bootstrapToken } from './service.js'

/**
 * Simulated handheld scanners, one or several per shipment at once, each sending its commands one after the other the
 * way a scanner app does: every command carries an Idempotency-Key, and an unanswered request (the
 * service was down, the connection reset, a 503 or 429) is retried with the same key until an answer
 * comes; a 202 is followed up on `GET /commands/{id}`. About `invalidRate` of the commands are against
 * the rules and `duplicateRate` repeat the previous one (same key, same body).
 */
export interface ScannerOptions {
  readonly base: () => string
  readonly shipmentId: string
  /** The device's name in the history and its keys (default: the shipment id). */
  readonly scannerId?: string
  readonly commands: number
  readonly history: History
  readonly random: () => number
  readonly invalidRate?: number
  readonly duplicateRate?: number
  /** Called after each answered command (progress, fault triggers). */
  readonly onAnswered?: () => void
  readonly requestTimeoutMs?: number
  /** Give up (and fail the test with a message) after this long. */
  readonly deadlineMs?: number
  /** The trucks ASSIGN picks from (default T1–T3: truck ids never opened, v1). */
  readonly trucks?: readonly string[]
  /** Send `Prefer: respond-async`: every command is answered 202 and followed up on `GET /commands/{id}`. */
  readonly respondAsync?: boolean
}

type Belief = { state: string; truckId: string | null }

/** The next command: mostly valid churn (assign, unassign, reassign), shipped and delivered at the end. */
function nextCommand(belief: Belief, random: () => number, invalidRate: number, remaining: number, trucks: readonly string[]): ShipmentCommand {
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!
  if (belief.state === 'unregistered') return { type: 'REGISTER', origin: 'Depot' }
  if (remaining <= 2 && belief.state === 'assigned') return { type: 'SHIP' }
  if (remaining <= 2 && belief.state === 'registered') return { type: 'ASSIGN', truckId: 'T1' }
  if (random() < invalidRate) {
    const invalid: Record<string, ShipmentCommand[]> = {
      registered: [{ type: 'SHIP' }, { type: 'DELIVER' }, { type: 'UNASSIGN' }, { type: 'REGISTER' }],
      assigned: [{ type: 'DELIVER' }, { type: 'REGISTER' }, { type: 'ASSIGN', truckId: belief.truckId ?? 'T1' }],
      shipped: [{ type: 'SHIP' }, { type: 'CANCEL' }, { type: 'ASSIGN', truckId: 'T2' }],
    }
    return pick(invalid[belief.state] ?? [{ type: 'DELIVER' }, { type: 'SHIP' }])
  }
  switch (belief.state) {
    case 'registered':
      return random() < 0.002 ? { type: 'CANCEL', reason: 'test' } : { type: 'ASSIGN', truckId: pick([...trucks]) }
    case 'assigned': {
      const r = random()
      if (r < 0.45) return { type: 'UNASSIGN' }
      return { type: 'ASSIGN', truckId: pick(trucks.filter((t) => t !== belief.truckId)) }
    }
    case 'shipped':
      return { type: 'DELIVER', receivedBy: 'R' }
    default:
      return pick([{ type: 'DELIVER' }, { type: 'SHIP' }, { type: 'REGISTER' }])
  }
}

async function post(base: string, path: string, body: unknown, key: string, timeoutMs: number, respondAsync = false) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bootstrapToken}`, 'content-type': 'application/json', 'idempotency-key': key, ...(respondAsync ? { prefer: 'respond-async' } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  })
  return { status: res.status, body: (await res.json().catch(() => ({}))) as NonNullable<Attempt['response']> }
}

/** One `GET /commands/{id}`; its answer is kept on the attempt whose 202 named the command (the checker judges it). */
async function poll(base: string, record: Attempt, commandId: string, timeoutMs: number): Promise<AnswerBody | undefined> {
  const sentAt = clientClock()
  const res = await fetch(`${base}/commands/${commandId}`, { headers: { authorization: `Bearer ${bootstrapToken}` }, signal: AbortSignal.timeout(timeoutMs) })
  const response = (await res.json().catch(() => ({}))) as AnswerBody
  ;(record.polls ??= []).push({ sentAt, answeredAt: clientClock(), status: res.status, response })
  return res.ok ? response : undefined
}

/** Follows a 202 up until its command is decided (or about 20 s pass). */
async function followUp(base: string, record: Attempt, commandId: string, timeoutMs: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const status = await poll(base, record, commandId, timeoutMs).catch(() => undefined)
    if (status && status.outcome !== 'queued') return
    await sleep(50)
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** How a request went unanswered, as the history records it: a timeout, or the socket's error code. */
const noAnswer = (error: unknown): string =>
  (error as Error).name === 'TimeoutError' ? 'timeout' : ((error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message)

export async function runScanner(options: ScannerOptions): Promise<void> {
  const deadline = Date.now() + (options.deadlineMs ?? 180_000)
  const { shipmentId, history, random } = options
  const scannerId = options.scannerId ?? shipmentId
  const invalidRate = options.invalidRate ?? 0.06
  const duplicateRate = options.duplicateRate ?? 0.04
  const timeout = options.requestTimeoutMs ?? 5000
  let belief: Belief = { state: 'unregistered', truckId: null }
  let previous = null as { key: string; body: ShipmentCommand } | null
  for (let index = 0; index < options.commands; index++) {
    const repeat: { key: string; body: ShipmentCommand } | null = previous !== null && random() < duplicateRate ? previous : null
    const body: ShipmentCommand = repeat ? repeat.body : nextCommand(belief, random, invalidRate, options.commands - index, options.trucks ?? ['T1', 'T2', 'T3'])
    const key: string = repeat ? repeat.key : `${scannerId}-${index}`
    let answered = false
    for (let attempt = 1; !answered; attempt++) {
      if (Date.now() > deadline) throw new Error(`scanner ${scannerId}: no answer for command ${index} (${key}) before the deadline`)
      const record = history.record({ scannerId, shipmentId, key, index, body, attempt, sentAt: clientClock() })
      try {
        const res = await post(options.base(), `/shipments/${shipmentId}/commands`, body, key, timeout, options.respondAsync)
        record.answeredAt = clientClock()
        record.status = res.status
        record.response = res.body
        if (res.status === 503 || res.status === 429) {
          await sleep(50 + random() * 100)
          continue
        }
        answered = true
        if (res.body?.shipment) belief = { state: res.body.shipment.state, truckId: res.body.shipment.truckId }
        else if (res.status === 404) belief = { state: 'unregistered', truckId: null }
        if (res.status === 202 && res.body?.commandId) {
          // Queued: follow it up until it is decided, then learn the state from the shipment.
          await followUp(options.base(), record, res.body.commandId, timeout)
          const shipment = await fetch(`${options.base()}/shipments/${shipmentId}`, { headers: { authorization: `Bearer ${bootstrapToken}` }, signal: AbortSignal.timeout(timeout) })
            .then((r) => (r.ok ? (r.json() as Promise<{ state: string; truckId: string | null }>) : undefined))
            .catch(() => undefined)
          if (shipment) belief = { state: shipment.state, truckId: shipment.truckId }
        }
      } catch (error) {
        record.answeredAt = clientClock()
        record.error = noAnswer(error)
        await sleep(50 + random() * 150)
      }
    }
    previous = { key, body }
    options.onAnswered?.()
  }
}

/** A small deterministic PRNG (xorshift32) so a failing run can be replayed. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0 || 1
  return () => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return (state >>> 0) / 2 ** 32
  }
}

let setups = 0

/**
 * A test's own set-up command (a shipment registered, a truck opened before the scanners start), sent
 * with an Idempotency-Key and retried like a scanner's, and recorded in the history: the checker
 * accounts for every command in the inbox, so set-up must not be sent around it. Resolves to the status.
 */
export async function sendRecorded(options: { base: string; history: History; shipmentId?: string; truckId?: string; body: Attempt['body']; timeoutMs?: number }): Promise<number> {
  const { history } = options
  const subject = options.truckId ?? options.shipmentId!
  const path = options.truckId ? `/trucks/${options.truckId}/commands` : `/shipments/${options.shipmentId}/commands`
  const index = ++setups
  const key = `setup-${index}-${subject}`
  const deadline = Date.now() + 60_000
  for (let attempt = 1; ; attempt++) {
    if (Date.now() > deadline) throw new Error(`set-up ${key}: no answer within 60 s`)
    const record = history.record({ scannerId: 'setup', shipmentId: subject, ...(options.truckId ? { streamId: `truck:${options.truckId}` } : {}), key, index, body: options.body, attempt, sentAt: clientClock() })
    try {
      const res = await post(options.base, path, options.body, key, options.timeoutMs ?? 10_000)
      record.answeredAt = clientClock()
      record.status = res.status
      record.response = res.body
      if (res.status === 503 || res.status === 429) {
        await sleep(100)
        continue
      }
      if (res.status === 202 && res.body?.commandId) await followUp(options.base, record, res.body.commandId, options.timeoutMs ?? 10_000)
      return res.status
    } catch (error) {
      record.answeredAt = clientClock()
      record.error = (error as Error).message
      await sleep(100)
    }
  }
}

export interface TruckScannerOptions {
  readonly base: () => string
  readonly truckId: string
  readonly capacity: number
  /** Departures (each followed by a RETURN). */
  readonly trips: number
  readonly history: History
  readonly random: () => number
  /** Mean pause between the dock's scans (ms). */
  readonly pauseMs?: number
  readonly deadlineMs?: number
  readonly requestTimeoutMs?: number
  readonly onAnswered?: () => void
}

/**
 * A dock's scanner for one truck: OPEN it, then `trips` times DEPART (its load ships) and RETURN,
 * with pauses in between, each scan with its Idempotency-Key and retried until answered (a 202 is
 * followed up, as the shipment scanners do).
 */
export async function runTruckScanner(options: TruckScannerOptions): Promise<void> {
  const deadline = Date.now() + (options.deadlineMs ?? 180_000)
  const { truckId, history, random } = options
  const scannerId = `dock-${truckId}`
  const timeout = options.requestTimeoutMs ?? 5000
  const scans: Array<{ type: string; capacity?: number }> = [{ type: 'OPEN', capacity: options.capacity }]
  for (let trip = 0; trip < options.trips; trip++) scans.push({ type: 'DEPART' }, { type: 'RETURN' })
  for (const [index, body] of scans.entries()) {
    await sleep((options.pauseMs ?? 100) * (0.5 + random()))
    const key = `${scannerId}-${index}`
    for (let attempt = 1; ; attempt++) {
      if (Date.now() > deadline) throw new Error(`truck scanner ${scannerId}: no answer for ${body.type} (${key}) before the deadline`)
      const record = history.record({ scannerId, shipmentId: truckId, streamId: `truck:${truckId}`, key, index, body, attempt, sentAt: clientClock() })
      try {
        const res = await post(options.base(), `/trucks/${truckId}/commands`, body, key, timeout)
        record.answeredAt = clientClock()
        record.status = res.status
        record.response = res.body
        if (res.status === 503 || res.status === 429) {
          await sleep(50 + random() * 100)
          continue
        }
        if (res.status === 202 && res.body?.commandId) await followUp(options.base(), record, res.body.commandId, timeout)
        break
      } catch (error) {
        record.answeredAt = clientClock()
        record.error = noAnswer(error)
        await sleep(50 + random() * 150)
      }
    }
    options.onAnswered?.()
  }
}

export interface OfflineItem {
  readonly seq: number
  readonly shipmentId?: string
  readonly truckId?: string
  readonly command: Attempt['body']
}

export interface OfflineDeviceOptions {
  readonly base: () => string
  /** The device's own token (seqs are numbered per device). */
  readonly token: string
  readonly deviceId: string
  /** What it scanned while offline, numbered 1, 2, 3 … */
  readonly items: readonly OfflineItem[]
  /** Items per upload. */
  readonly chunk: number
  readonly history: History
  readonly random: () => number
  /** How often an answered upload is sent again (its answer lost on flaky Wi-Fi). */
  readonly resendRate?: number
  readonly deadlineMs?: number
  readonly requestTimeoutMs?: number
  readonly onAnswered?: () => void
}

/**
 * A handheld back from a Wi-Fi dead zone, the way docs/scanner-apps.md tells an app to upload: its
 * buffer in order, in batches; a batch without an answer (the service down, a reset, a timeout, a
 * 503 or 429) is sent again as it was, and now and then an answered one too (its answer lost). Each
 * item of each upload is one attempt in the history, keyed by (device, seq).
 */
export async function runOfflineDevice(options: OfflineDeviceOptions): Promise<void> {
  const deadline = Date.now() + (options.deadlineMs ?? 180_000)
  const { history, random, deviceId } = options
  const timeout = options.requestTimeoutMs ?? 10_000
  for (let from = 0; from < options.items.length; from += options.chunk) {
    const chunk = options.items.slice(from, from + options.chunk)
    for (let attempt = 1; ; attempt++) {
      if (Date.now() > deadline) throw new Error(`device ${deviceId}: no answer for seqs ${chunk[0]!.seq}–${chunk.at(-1)!.seq} before the deadline`)
      const records = chunk.map((item) =>
        history.record({
          scannerId: deviceId, shipmentId: item.shipmentId ?? item.truckId!, ...(item.truckId ? { streamId: `truck:${item.truckId}` } : {}),
          key: seqKey(deviceId, item.seq), index: item.seq, body: item.command, attempt, sentAt: clientClock(),
        }),
      )
      try {
        const res = await fetch(`${options.base()}/batches`, {
          method: 'POST',
          headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ items: chunk }),
          signal: AbortSignal.timeout(timeout),
        })
        const body = (await res.json().catch(() => ({}))) as { results?: Array<NonNullable<Attempt['response']> & { status: number }> }
        const answeredAt = clientClock()
        records.forEach((record, i) => {
          record.answeredAt = answeredAt
          const result = res.status === 200 ? body.results?.[i] : undefined
          record.status = result?.status ?? res.status
          if (result) record.response = result
        })
        if (res.status !== 200) {
          await sleep(50 + random() * 100)
          continue
        }
        if (random() < (options.resendRate ?? 0)) continue
        break
      } catch (error) {
        const answeredAt = clientClock()
        for (const record of records) {
          record.answeredAt = answeredAt
          record.error = noAnswer(error)
        }
        await sleep(50 + random() * 150)
      }
    }
    options.onAnswered?.()
  }
}
