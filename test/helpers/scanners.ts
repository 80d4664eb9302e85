import type { ShipmentCommand } from '../../machines/shipment/index.js'
import type { Attempt, History } from './history.js'
import { bootstrapToken } from './service.js'

/**
 * Simulated handheld scanners, one per shipment, each sending its commands one after the other the
 * way a scanner app does: every command carries an Idempotency-Key, and an unanswered request (the
 * service was down, the connection reset, a 503 or 429) is retried with the same key until an answer
 * comes; a 202 is followed up on `GET /commands/{id}`. About `invalidRate` of the commands are against
 * the rules and `duplicateRate` repeat the previous one (same key, same body).
 */
export interface ScannerOptions {
  readonly base: () => string
  readonly shipmentId: string
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
}

type Belief = { state: string; truckId: string | null }

/** The next command: mostly valid churn (assign, unassign, reassign), shipped and delivered at the end. */
function nextCommand(belief: Belief, random: () => number, invalidRate: number, remaining: number): ShipmentCommand {
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
      return random() < 0.002 ? { type: 'CANCEL', reason: 'test' } : { type: 'ASSIGN', truckId: pick(['T1', 'T2', 'T3']) }
    case 'assigned': {
      const r = random()
      if (r < 0.45) return { type: 'UNASSIGN' }
      return { type: 'ASSIGN', truckId: pick(['T1', 'T2', 'T3'].filter((t) => t !== belief.truckId)) }
    }
    case 'shipped':
      return { type: 'DELIVER', receivedBy: 'R' }
    default:
      return pick([{ type: 'DELIVER' }, { type: 'SHIP' }, { type: 'REGISTER' }])
  }
}

async function post(base: string, shipmentId: string, body: unknown, key: string, timeoutMs: number) {
  const res = await fetch(`${base}/shipments/${shipmentId}/commands`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bootstrapToken}`, 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  })
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Attempt['response'] & { shipment?: { state: string; truckId: string | null } } }
}

async function poll(base: string, commandId: string, timeoutMs: number): Promise<{ outcome: string; reason?: string } | undefined> {
  const res = await fetch(`${base}/commands/${commandId}`, { headers: { authorization: `Bearer ${bootstrapToken}` }, signal: AbortSignal.timeout(timeoutMs) })
  return res.ok ? ((await res.json()) as { outcome: string; reason?: string }) : undefined
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export async function runScanner(options: ScannerOptions): Promise<void> {
  const deadline = Date.now() + (options.deadlineMs ?? 180_000)
  const { shipmentId, history, random } = options
  const invalidRate = options.invalidRate ?? 0.06
  const duplicateRate = options.duplicateRate ?? 0.04
  const timeout = options.requestTimeoutMs ?? 5000
  let belief: Belief = { state: 'unregistered', truckId: null }
  let previous = null as { key: string; body: ShipmentCommand } | null
  for (let index = 0; index < options.commands; index++) {
    const repeat: { key: string; body: ShipmentCommand } | null = previous !== null && random() < duplicateRate ? previous : null
    const body: ShipmentCommand = repeat ? repeat.body : nextCommand(belief, random, invalidRate, options.commands - index)
    const key: string = repeat ? repeat.key : `${shipmentId}-${index}`
    let answered = false
    for (let attempt = 1; !answered; attempt++) {
      if (Date.now() > deadline) throw new Error(`scanner ${shipmentId}: no answer for command ${index} (${key}) before the deadline`)
      const record = history.record({ shipmentId, key, index, body, attempt, sentAt: Date.now() })
      try {
        const res = await post(options.base(), shipmentId, body, key, timeout)
        record.answeredAt = Date.now()
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
          for (let i = 0; i < 400; i++) {
            const status = await poll(options.base(), res.body.commandId, timeout).catch(() => undefined)
            if (status && status.outcome !== 'queued') break
            await sleep(50)
          }
          const shipment = await fetch(`${options.base()}/shipments/${shipmentId}`, { headers: { authorization: `Bearer ${bootstrapToken}` }, signal: AbortSignal.timeout(timeout) })
            .then((r) => (r.ok ? (r.json() as Promise<{ state: string; truckId: string | null }>) : undefined))
            .catch(() => undefined)
          if (shipment) belief = { state: shipment.state, truckId: shipment.truckId }
        }
      } catch (error) {
        record.answeredAt = Date.now()
        record.error = (error as Error).name === 'TimeoutError' ? 'timeout' : ((error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message)
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
