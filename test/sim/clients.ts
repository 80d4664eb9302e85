import { truckStream } from '../../machines/kinds.js'
import type { IntakeAnswer } from '../../src/commands/intake.js'
import { itemOf, itemResult } from '../../src/http/routes/batches.js'
import type { ApiEvent } from '../../src/projections/queries.js'
import type { CommandPayload } from '../../src/store/types.js'
import { seqKey, type Attempt, type AnswerBody, type History } from '../helpers/history.js'
import type { SimProcess } from './process.js'
import type { Rng } from './prng.js'
import type { Owner, Scheduler } from './scheduler.js'

/**
 * The simulated outside world: handheld scanners (online, one command at a time, every command with
 * its Idempotency-Key, retried until answered), dock scanners that open trucks and send them away,
 * offline handhelds that upload what they scanned as numbered batches, and an event-feed consumer.
 * They reach the processes through a simulated load balancer and network (latency, a request
 * timeout, a connection reset when the process dies), and see exactly what the HTTP routes would
 * answer: the intake's answer is shaped by the routes' own functions (`itemResult`,
 * `rejectionProblem`), so the history checker's ANSWER check stays meaningful. Every request is an
 * Attempt of the history, timed in true (simulated) time.
 */
export interface ClientWorld {
  readonly sched: Scheduler
  readonly history: History
  /** Epoch ms at simulated time 0. */
  readonly epoch: number
  /** A ready process, picked by the load balancer (null: none serves). */
  route(rng: Rng): SimProcess | null
  /** True time for the history: strictly increasing. */
  clientNow(): number
  count(what: string): void
  /** A problem the clients themselves can tell (a batch item's answer that is not what it must be). */
  problem(text: string): void
  /** The story of a replay (verbose only). */
  log?(line: string): void
}

/** One client: its world, its own random stream, and the owner its tasks belong to. */
export interface Client {
  readonly w: ClientWorld
  readonly rng: Rng
  readonly owner: Owner
}

const sleep = (c: Client, ms: number) => c.w.sched.sleep(ms, c.owner)

export type Reply<T> = { readonly value: T } | { readonly error: string } | { readonly status500: string }

/** A client gives up (and the seed fails as STUCK) after this long without an answer. */
const patienceMs = 90_000
const requestTimeoutMs = 2500
/** Backoff before the next attempt: doubling from 20 ms to about a second, with jitter. */
const backoff = (rng: Rng, attempt: number) => Math.round(Math.min(1000, 20 * 2 ** Math.min(attempt - 1, 6)) * (0.5 + rng.next()))

/**
 * One request: to a process picked by the load balancer, handled there (its tasks are the process's),
 * answered unless the process dies first or the client gives up waiting.
 */
export async function request<T>(c: Client, work: (p: SimProcess) => Promise<T>, timeoutMs = requestTimeoutMs): Promise<Reply<T>> {
  const { w, rng } = c
  await sleep(c, rng.int(3))
  const p = w.route(rng)
  if (!p) return { error: 'ECONNREFUSED' }
  const handled = w.sched.as(p.owner, () => work(p))
  const timer = w.sched.timer(timeoutMs, c.owner)
  const outcome = await Promise.race([
    handled.then(
      (value) => ({ value }),
      (error: unknown) => ({ failed: error }),
    ),
    p.owner.died.then(() => ({ error: 'ECONNRESET' })),
    timer.promise.then(() => ({ error: 'timeout' })),
  ])
  timer.cancel()
  if ('failed' in outcome) return p.alive ? { status500: String((outcome.failed as Error)?.stack ?? outcome.failed) } : { error: 'ECONNRESET' }
  if ('value' in outcome) {
    // Fault point: the answer is on its way (a crash now does not take it back).
    if (p.point('fault:after-reply')) p.crash()
    await sleep(c, rng.int(3))
  }
  return outcome
}

/** What POST /shipments/{id}/commands (or /trucks/{id}/commands) answers, status and body. */
export function shapeSingle(answer: IntakeAnswer): { status: number; response: AnswerBody } {
  switch (answer.kind) {
    case 'unavailable':
      return { status: 503, response: { detail: answer.why } }
    case 'key-conflict':
      return { status: 422, response: { commandId: answer.commandId } }
    case 'queued':
      return { status: 202, response: { commandId: answer.commandId, outcome: 'queued' } }
    case 'decided': {
      // The single route's answer is the batch item's, without the item's own fields.
      const { seq: _seq, status, ...body } = itemResult({ seq: 0, kind: 'decided', report: answer.report, replayed: answer.replayed })
      return { status, response: body as AnswerBody }
    }
  }
}

type Body = Attempt['body']

/** Sends a command to a shipment or truck (as the route would), shaped as its answer. */
async function send(p: SimProcess, deviceId: string, streamId: string, fingerprintHead: readonly unknown[], body: Body, key: string): Promise<{ status: number; response: AnswerBody }> {
  const { scannedAt, operatorId, ...command } = body
  const answer = await p.intake.submit({
    streamId,
    command: command as CommandPayload,
    metadata: { deviceId, ...(operatorId === undefined ? {} : { operatorId }), ...(scannedAt === undefined ? {} : { scannedAt }), requestId: key },
    idempotencyKey: key,
    fingerprint: [...fingerprintHead, body],
    respondAsync: false,
  })
  return shapeSingle(answer)
}

/** Follows a 202 up (GET /commands/{id}) until it is decided, or gives up. */
async function follow(c: Client, commandId: string): Promise<void> {
  for (let i = 0; i < 40; i++) {
    await sleep(c, 20 + c.rng.int(80))
    const polled = await request(c, async (p) => (await p.store.inbox.get(commandId))?.status)
    if ('value' in polled && polled.value !== undefined && polled.value !== 'pending') return
  }
  c.w.count('gave-up-following')
}

/**
 * Sends one logical command until it is answered (a status other than 503), recording each attempt.
 * Returns the last answer.
 */
async function untilAnswered(
  c: Client,
  base: Omit<Attempt, 'attempt' | 'sentAt'>,
  deviceId: string,
  fingerprintHead: readonly unknown[],
): Promise<Attempt | null> {
  const { w, rng } = c
  const streamId = base.streamId ?? base.shipmentId
  const deadline = w.sched.now + patienceMs
  for (let attempt = 1; w.sched.now < deadline; attempt++) {
    const record = w.history.record({ ...base, attempt, sentAt: w.clientNow() })
    let via = ''
    const reply = await request(c, (p) => ((via = p.name), send(p, deviceId, streamId, fingerprintHead, base.body, base.key)))
    record.answeredAt = w.clientNow()
    w.log?.(`${base.key} #${attempt} ${JSON.stringify(base.body)} via ${via || '-'}: ${'value' in reply ? `${reply.value.status} ${reply.value.response.outcome ?? ''} ${reply.value.response.reason ?? ''}` : 'error' in reply ? reply.error : '500'}`)
    if ('value' in reply) {
      record.status = reply.value.status
      record.response = reply.value.response
      if (reply.value.status !== 503) {
        w.count(`status-${reply.value.status}`)
        if (reply.value.response.replayed) w.count('replayed-answer')
        return record
      }
      w.count('status-503')
    } else if ('status500' in reply) {
      record.status = 500
      w.problem(`I6 ${base.key}: a 500 answer (${reply.status500.split('\n')[0]})`)
      return record
    } else {
      record.error = reply.error
      w.count(`no-answer-${reply.error}`)
    }
    await sleep(c, backoff(rng, attempt))
  }
  w.problem(`STUCK ${base.key}: no answer in ${patienceMs / 1000} s`)
  return null
}

type Belief = { state: string; truckId: string | null }

/** Mostly valid churn (assign, unassign, reassign), shipped and delivered at the end; some invalid. */
function nextCommand(belief: Belief, rng: Rng, remaining: number, trucks: readonly string[]): Body {
  if (belief.state === 'unregistered') return { type: 'REGISTER', origin: 'Depot' }
  if (remaining <= 2 && belief.state === 'assigned') return { type: 'SHIP' }
  if (remaining <= 2 && belief.state === 'registered') return { type: 'ASSIGN', truckId: rng.pick(trucks) }
  if (rng.chance(0.08)) {
    const invalid: Record<string, Body[]> = {
      registered: [{ type: 'SHIP' }, { type: 'DELIVER' }, { type: 'UNASSIGN' }, { type: 'REGISTER' }],
      assigned: [{ type: 'DELIVER' }, { type: 'REGISTER' }, { type: 'ASSIGN', truckId: belief.truckId ?? trucks[0]! }],
      shipped: [{ type: 'SHIP' }, { type: 'CANCEL' }, { type: 'ASSIGN', truckId: trucks[0]! }],
    }
    return rng.pick(invalid[belief.state] ?? [{ type: 'DELIVER' }, { type: 'SHIP' }])
  }
  switch (belief.state) {
    case 'registered':
      return rng.chance(0.04) ? { type: 'CANCEL', reason: 'test' } : { type: 'ASSIGN', truckId: rng.pick(trucks) }
    case 'assigned': {
      if (rng.chance(0.4)) return { type: 'UNASSIGN' }
      const others = trucks.filter((t) => t !== belief.truckId)
      return others.length > 0 && rng.chance(0.7) ? { type: 'ASSIGN', truckId: rng.pick(others) } : { type: 'SHIP' }
    }
    case 'shipped':
      return { type: 'DELIVER', receivedBy: 'R' }
    default:
      return rng.pick([{ type: 'DELIVER' }, { type: 'SHIP' }, { type: 'REGISTER' }])
  }
}

const iso = (w: ClientWorld, offsetMs = 0) => new Date(w.epoch + w.sched.now + offsetMs).toISOString()

/** A handheld on one shipment: `commands` commands, one after the other. */
export async function onlineScanner(c: Client, options: { scannerId: string; shipmentId: string; commands: number; trucks: readonly string[] }): Promise<void> {
  const { w, rng } = c
  const { scannerId, shipmentId } = options
  let belief: Belief = { state: 'unregistered', truckId: null }
  let previous: { key: string; body: Body } | null = null
  for (let index = 0; index < options.commands; index++) {
    await sleep(c, rng.int(120))
    const repeat: { key: string; body: Body } | null = previous !== null && rng.chance(0.05) ? previous : null
    const body: Body = repeat ? repeat.body : { ...nextCommand(belief, rng, options.commands - index, options.trucks), scannedAt: iso(w, -rng.int(50)), operatorId: 'op' }
    const key: string = repeat ? repeat.key : `${scannerId}-${index}`
    const answered = await untilAnswered(c, { scannerId, shipmentId, key, index, body }, scannerId, [shipmentId])
    previous = { key, body }
    if (!answered) continue
    const response = answered.response
    if (response?.shipment) belief = { state: response.shipment.state, truckId: response.shipment.truckId }
    else if (answered.status === 404) belief = { state: 'unregistered', truckId: null }
    else if (answered.status === 202 && response?.commandId) {
      await follow(c, response.commandId)
      const view = await request(c, (p) => p.queries.get(shipmentId))
      if ('value' in view && view.value) belief = { state: view.value.state, truckId: view.value.truckId }
    }
  }
}

/** A dock's scanner: OPEN the truck, then `trips` times DEPART and RETURN. */
export async function dockScanner(c: Client, options: { truckId: string; capacity: number; trips: number }): Promise<void> {
  const { w, rng } = c
  const { truckId } = options
  const scannerId = `dock-${truckId}`
  const scans: Body[] = [{ type: 'OPEN', capacity: options.capacity }]
  for (let trip = 0; trip < options.trips; trip++) scans.push({ type: 'DEPART' }, { type: 'RETURN' })
  for (const [index, scan] of scans.entries()) {
    await sleep(c, index === 0 ? rng.int(30) : 100 + rng.int(600))
    const body = { ...scan, scannedAt: iso(w) }
    const answered = await untilAnswered(c, { scannerId, shipmentId: truckId, streamId: truckStream(truckId), key: `${scannerId}-${index}`, index, body }, scannerId, ['truck', truckId])
    if (answered?.status === 202 && answered.response?.commandId) await follow(c, answered.response.commandId)
  }
}

export interface OfflineItem {
  readonly seq: number
  readonly shipmentId?: string
  readonly truckId?: string
  readonly command: Body
}

/**
 * What a handheld scanned out of Wi-Fi, a while ago: scans of these shipments (and perhaps a
 * truck's departure), each with the time it was made; a malformed item now and then.
 */
export function offlineWork(w: ClientWorld, rng: Rng, shipments: readonly string[], trucks: readonly string[], docks: readonly string[], count: number): OfflineItem[] {
  const items: OfflineItem[] = []
  const agoMs = 500 + rng.int(5000)
  for (let i = 0; i < count; i++) {
    const scannedAt = iso(w, -agoMs + i * 10)
    const seq = i + 1
    const r = rng.next()
    if (r < 0.08) items.push({ seq, shipmentId: rng.pick(shipments), command: { type: 'FLY', scannedAt } })
    else if (r < 0.16 && docks.length > 0) items.push({ seq, truckId: rng.pick(docks), command: { type: rng.pick(['DEPART', 'RETURN']), scannedAt } })
    else {
      const command = rng.weighted<Body>([
        [{ type: 'ASSIGN', truckId: rng.pick(trucks) }, 4],
        [{ type: 'UNASSIGN' }, 2],
        [{ type: 'SHIP' }, 2],
        [{ type: 'DELIVER', receivedBy: 'R' }, 2],
        [{ type: 'CANCEL', reason: 'offline' }, 1],
        [{ type: 'REGISTER' }, 1],
      ])
      items.push({ seq, shipmentId: rng.pick(shipments), command: { ...command, scannedAt, operatorId: 'op-off' } })
    }
  }
  return items
}

/**
 * A handheld back in Wi-Fi: uploads its buffer in order, in chunks; a chunk without an answer (503, no
 * answer) is sent again as it was, and now and then an answered one too (its answer lost). Each
 * well-formed item of each upload is an attempt in the history, keyed by (device, seq).
 */
export async function offlineDevice(c: Client, options: { deviceId: string; items: readonly OfflineItem[]; chunk: number; resendRate: number; asyncRate: number }): Promise<void> {
  const { w, rng } = c
  const { deviceId } = options
  await sleep(c, rng.int(1500))
  for (let from = 0; from < options.items.length; from += options.chunk) {
    const chunk = options.items.slice(from, from + options.chunk)
    const deadline = w.sched.now + patienceMs
    for (let attempt = 1; ; attempt++) {
      const respondAsync = rng.chance(options.asyncRate)
      const records = chunk.map((item) =>
        item.command.type === 'FLY'
          ? null
          : w.history.record({
              scannerId: deviceId, shipmentId: item.shipmentId ?? item.truckId!, ...(item.truckId ? { streamId: truckStream(item.truckId) } : {}),
              key: seqKey(deviceId, item.seq), index: item.seq, body: item.command, attempt, sentAt: w.clientNow(),
            }),
      )
      const reply = await request(c, async (p) => {
        const items = chunk.map((raw) => itemOf(raw as never, deviceId, `${deviceId}-${raw.seq}`))
        return p.intake.submitBatch({ deviceId, items, respondAsync })
      })
      const answeredAt = w.clientNow()
      let again = true
      if ('value' in reply) {
        const answer = reply.value
        if (answer.kind === 'answered') {
          const results = answer.items.map(itemResult)
          results.forEach((result, i) => {
            const record = records[i]
            if (result.late) w.count('late-answer')
            if (!record) {
              if (result.status !== 400) w.problem(`BATCH ${deviceId} seq ${result.seq}: a malformed item answered ${result.status}`)
              return
            }
            record.answeredAt = answeredAt
            record.status = result.status
            record.response = result as AnswerBody
            w.count(`item-${result.status}`)
          })
          w.count(respondAsync ? 'batch-async' : 'batch')
          again = rng.chance(options.resendRate)
          if (again) w.count('batch-resent')
        } else {
          for (const record of records) if (record) Object.assign(record, { answeredAt, status: 503 })
          w.count('batch-503')
        }
      } else {
        for (const record of records) {
          if (!record) continue
          record.answeredAt = answeredAt
          if ('status500' in reply) record.status = 500
          else record.error = reply.error
        }
        if ('status500' in reply) w.problem(`I6 batch of ${deviceId}: a 500 answer (${reply.status500.split('\n')[0]})`)
      }
      if (!again) break
      if (w.sched.now >= deadline) {
        w.problem(`STUCK ${deviceId}: batch from seq ${chunk[0]!.seq} not answered in ${patienceMs / 1000} s`)
        break
      }
      await sleep(c, backoff(rng, attempt))
    }
  }
}

/**
 * An event-feed consumer (the SSE stream): subscribed to one process's feed hub from its last
 * position; when that process dies or the stream fails, it resubscribes to another. Records every
 * position delivered, in order.
 */
export class FeedConsumer {
  readonly positions: number[] = []
  after = 0
  #current: { process: SimProcess; unsubscribe: () => void } | null = null
  readonly owner: Owner

  constructor(
    private readonly w: ClientWorld,
    private readonly rng: Rng,
  ) {
    this.owner = w.sched.owner('feed-consumer')
  }

  start(): void {
    this.w.sched.as(this.owner, () => void this.#connect())
  }

  async #connect(): Promise<void> {
    for (;;) {
      await this.w.sched.sleep(20 + this.rng.int(200), this.owner)
      const p = this.w.route(this.rng)
      if (!p) continue
      let failed!: () => void
      const ended = new Promise<void>((resolve) => (failed = resolve))
      const subscriber = {
        after: this.after,
        deliver: (events: readonly ApiEvent[]) => {
          for (const e of events) {
            this.positions.push(e.position)
            this.after = e.position
          }
        },
        failed: () => failed(),
      }
      const unsubscribe = this.w.sched.as(p.owner, () => p.feed.subscribe(subscriber))
      this.#current = { process: p, unsubscribe }
      await Promise.race([ended, p.owner.died])
      unsubscribe()
      this.#current = null
      this.w.count('feed-reconnect')
    }
  }

  /** Pokes the hub it is subscribed to (a final catch-up). */
  poke(): boolean {
    const current = this.#current
    if (!current || !current.process.alive) return false
    this.w.sched.as(current.process.owner, () => current.process.feed.poke())
    return true
  }
}
