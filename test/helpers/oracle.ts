import { idOfStream, kindOfStream } from '../../machines/kinds.js'
import { shipmentDecider, type ShipmentMachineEvent, type ShipmentSnapshot } from '../../machines/shipment/index.js'
import { truckDecider, type TruckSnapshot } from '../../machines/truck/index.js'

/**
 * The history checker's oracle: what the inbox's commands should have decided, replayed stream by
 * stream in arrival order through the pure machines and an independent model of the trucks' saga
 * (written here from the contract, not from src/decisions: a bug there must not hide itself).
 *
 * A stream's rows are its scanners' commands and the messages other actors sent it. The model
 * follows each stream on its own — a shipment waiting for its truck's answer decides nothing else
 * until it comes; a truck departing with places held answers UNLOAD/CONFIRM/RELEASE and lets LOADs
 * wait — and says, for every decision, which messages it must have sent (id, receiver, payload).
 * Messages are read as recorded by their receiver; that their sender should have sent exactly them
 * is checked on the sender's side. So streams replay independently and every cross-actor step is
 * checked twice: sent as the rules say, decided as the rules say.
 */
export interface OracleRow {
  readonly seq: number
  readonly commandId: string
  readonly streamId: string
  readonly type: string
  readonly payload: Record<string, unknown>
  readonly origin: 'saga' | null
  readonly causationId: string | null
  readonly status: string
  readonly reason: string | null
  /** Position of the event it recorded (null: none). */
  readonly eventPosition: number | null
}

export interface Verdict {
  readonly outcome: 'accepted' | 'rejected'
  readonly reason: string | null
  /** The aggregate after the command (accepted) or when it was refused; null if it did not exist. */
  readonly view: { state: string; version: number; truckId?: string | null; manifest?: readonly string[]; allowed: readonly string[] } | null
  readonly allowed: readonly string[]
  readonly event: { type: string; version: number; data: unknown } | null
}

export interface ExpectedEvent {
  readonly commandId: string
  readonly type: string
  readonly data: unknown
}

export interface ExpectedMessage {
  readonly id: string
  readonly streamId: string
  readonly payload: Record<string, unknown>
}

export interface OracleResult {
  readonly verdicts: Map<string, Verdict>
  readonly events: Map<string, ExpectedEvent[]>
  readonly messages: Map<string, ExpectedMessage>
  /** Rows left undecided by the model (waiting, or behind a wait). */
  readonly undecided: Set<string>
  /** Decisions that contradict the log's own order (e.g. decided at once for a truck already opened). */
  readonly problems: string[]
}

const ids = {
  load: (c: string) => `${c}.load`,
  unload: (c: string) => `${c}.unload`,
  confirm: (c: string) => `${c}.confirm`,
  release: (c: string) => `${c}.release`,
  reply: (r: string) => `${r}.reply`,
  departNow: (d: string) => `${d}.depart-now`,
  ship: (d: string, s: string) => `${d}.ship.${s}`,
}

const bypasses = new Set(['TRUCK_REPLY', 'UNLOAD', 'CONFIRM', 'RELEASE', 'DEPART_NOW'])

/**
 * Runs the model. `openedAt`: each truck's TruckOpened position (an ASSIGN decided at once must have
 * been decided before its truck was opened).
 */
export function replayOracle(rows: readonly OracleRow[], openedAt: ReadonlyMap<string, number>): OracleResult {
  const verdicts = new Map<string, Verdict>()
  const events = new Map<string, ExpectedEvent[]>()
  const messages = new Map<string, ExpectedMessage>()
  const undecided = new Set<string>()
  const problems: string[] = []
  const byStream = new Map<string, OracleRow[]>()
  for (const row of [...rows].sort((a, b) => a.seq - b.seq)) byStream.set(row.streamId, [...(byStream.get(row.streamId) ?? []), row])
  const exists = new Set(rows.map((r) => r.commandId))
  const send = (m: ExpectedMessage) => messages.set(m.id, m)

  for (const [streamId, list] of byStream) {
    const truck = kindOfStream(streamId).name === 'truck'
    const id = idOfStream(streamId)
    let snapshot: unknown = truck ? truckDecider.initialSnapshot() : shipmentDecider.initialSnapshot()
    let version = 0
    const expected: ExpectedEvent[] = []
    events.set(streamId, expected)
    const view = (): Verdict['view'] => {
      if (version === 0) return null
      if (truck) {
        const t = snapshot as TruckSnapshot
        return { state: truckDecider.stateOf(t), version, manifest: t.context.manifest, allowed: truckDecider.allowed(t) }
      }
      const s = snapshot as ShipmentSnapshot
      return { state: shipmentDecider.stateOf(s), version, truckId: s.context.truckId, allowed: shipmentDecider.allowed(s) }
    }
    const decider = truck ? (truckDecider as unknown as typeof shipmentDecider) : shipmentDecider
    /** The machine decides `command` for row `cause`; the verdict is recorded for `verdictOf`. */
    const machine = (command: { readonly type: string; readonly [field: string]: unknown }, eventCommandId: string, verdictOf: string) => {
      const decision = decider.decide(snapshot as ShipmentSnapshot, command as ShipmentMachineEvent)
      if (decision.outcome === 'accepted') {
        snapshot = decision.snapshot
        version++
        expected.push({ commandId: eventCommandId, type: decision.event.type, data: decision.event.data })
        verdicts.set(verdictOf, { outcome: 'accepted', reason: null, view: view(), allowed: view()!.allowed, event: { type: decision.event.type, version, data: decision.event.data } })
      } else {
        verdicts.set(verdictOf, { outcome: 'rejected', reason: decision.reason, view: view(), allowed: decision.allowed, event: null })
      }
      return decision
    }
    const refuse = (commandId: string, reason: string) => verdicts.set(commandId, { outcome: 'rejected', reason, view: view(), allowed: view()?.allowed ?? decider.allowed(snapshot as ShipmentSnapshot), event: null })
    const accept = (commandId: string) => verdicts.set(commandId, { outcome: 'accepted', reason: null, view: view(), allowed: view()?.allowed ?? [], event: null })

    // A truck's departures so far: an UNLOAD that finds it loading again without the shipment comes
    // from a place on a trip that left with it.
    let departures = 0
    // The stream's wait: the command it waits on, and the model's saga state.
    let wait: { commandId: string; state: Record<string, unknown> } | null = null
    const deferred: OracleRow[] = []
    const queue = [...list]
    while (queue.length > 0 || (deferred.length > 0 && wait === null)) {
      const row: OracleRow = wait === null && deferred.length > 0 ? deferred.shift()! : queue.shift()!
      if (row.status === 'pending' || row.reason === 'discarded') {
        undecided.add(row.commandId)
        continue
      }
      if (wait !== null && !(row.origin === 'saga' && bypasses.has(row.type))) {
        deferred.push(row)
        continue
      }
      const p = row.payload
      if (truck) {
        const t = () => (snapshot as TruckSnapshot).context
        switch (row.type) {
          case 'LOAD': {
            const decision = machine({ type: 'LOAD', shipmentId: p.shipmentId, hold: p.hold }, row.commandId, row.commandId)
            send({ id: ids.reply(row.commandId), streamId: String(p.shipmentId), payload: { type: 'TRUCK_REPLY', truckId: id, to: p.replyTo, step: 'load', outcome: decision.outcome, ...(decision.outcome === 'rejected' ? { reason: decision.reason } : {}) } })
            break
          }
          case 'UNLOAD': {
            let outcome: 'accepted' | 'rejected' = 'accepted'
            let reason: string | null = null
            if (wait !== null) {
              outcome = 'rejected'
              reason = 'truck_departed'
              refuse(row.commandId, 'truck_departed')
            } else if (truckDecider.stateOf(snapshot as TruckSnapshot) === 'loading' && !t().manifest.includes(String(p.shipmentId))) {
              if (departures > 0) {
                outcome = 'rejected'
                reason = 'truck_departed'
                refuse(row.commandId, 'truck_departed')
              } else {
                accept(row.commandId)
              }
            } else {
              const decision = machine({ type: 'UNLOAD', shipmentId: p.shipmentId }, row.commandId, row.commandId)
              if (decision.outcome === 'rejected') [outcome, reason] = ['rejected', decision.reason]
            }
            send({ id: ids.reply(row.commandId), streamId: String(p.shipmentId), payload: { type: 'TRUCK_REPLY', truckId: id, to: p.replyTo, step: 'unload', outcome, ...(reason ? { reason } : {}) } })
            break
          }
          case 'CONFIRM':
          case 'RELEASE':
            machine({ type: row.type, shipmentId: p.shipmentId }, row.commandId, row.commandId)
            if (wait !== null && t().reserved.length === 0) send({ id: ids.departNow(wait.commandId), streamId, payload: { type: 'DEPART_NOW' } })
            break
          case 'DEPART_NOW':
            if (wait !== null && t().reserved.length === 0) {
              const departure = wait.commandId
              accept(row.commandId)
              const manifest = t().manifest
              if (machine({ type: 'DEPART' }, departure, departure).outcome === 'accepted') departures++
              for (const s of manifest) send({ id: ids.ship(departure, s), streamId: s, payload: { type: 'DEPART_SHIP', truckId: id } })
              wait = null
            } else {
              accept(row.commandId)
            }
            break
          case 'DEPART': {
            const manifest = t().manifest
            const decision = truckDecider.decide(snapshot as TruckSnapshot, { type: 'DEPART' })
            if (decision.outcome === 'rejected' && decision.reason === 'reservations_open') {
              wait = { commandId: row.commandId, state: {} }
              break
            }
            machine({ type: 'DEPART' }, row.commandId, row.commandId)
            if (decision.outcome === 'accepted') departures++
            if (decision.outcome === 'accepted') for (const s of manifest) send({ id: ids.ship(row.commandId, s), streamId: s, payload: { type: 'DEPART_SHIP', truckId: id } })
            break
          }
          default:
            machine(p as { type: string }, row.commandId, row.commandId)
        }
        continue
      }

      // A shipment.
      const s = () => (snapshot as ShipmentSnapshot).context
      const openTruck = () => (s().onOpenTruck ? s().truckId : null)
      switch (row.type) {
        case 'ASSIGN': {
          const target = String(p.truckId)
          const check = shipmentDecider.decide(snapshot as ShipmentSnapshot, { type: 'ASSIGN', truckId: target })
          if (check.outcome === 'rejected') {
            machine({ type: 'ASSIGN', truckId: target }, row.commandId, row.commandId)
            break
          }
          const from = openTruck()
          // Decided at once only for a truck id that was not opened then (the log says when it was).
          const viaTruck = exists.has(ids.load(row.commandId))
          if (!viaTruck && from === null) {
            machine({ type: 'ASSIGN', truckId: target, opened: false }, row.commandId, row.commandId)
            const opened = openedAt.get(target)
            if (opened !== undefined && row.eventPosition !== null && opened < row.eventPosition) {
              problems.push(`${streamId} ${row.commandId}: ASSIGN to ${target} decided at once although the truck had been opened before (position ${opened} < ${row.eventPosition})`)
            }
            break
          }
          wait = { commandId: row.commandId, state: { step: viaTruck ? 'load' : 'unload', command: { type: 'ASSIGN', truckId: target }, target, targetOpened: false, from } }
          if (viaTruck) send({ id: ids.load(row.commandId), streamId: `truck:${target}`, payload: { type: 'LOAD', shipmentId: id, hold: from !== null, replyTo: row.commandId } })
          else send({ id: ids.unload(row.commandId), streamId: `truck:${from}`, payload: { type: 'UNLOAD', shipmentId: id, replyTo: row.commandId } })
          break
        }
        case 'UNASSIGN':
        case 'CANCEL': {
          const from = openTruck()
          const check = shipmentDecider.decide(snapshot as ShipmentSnapshot, p as ShipmentMachineEvent)
          if (from === null || check.outcome === 'rejected') {
            machine(p as { type: string }, row.commandId, row.commandId)
            break
          }
          wait = { commandId: row.commandId, state: { step: 'unload', command: p, target: null, targetOpened: false, from } }
          send({ id: ids.unload(row.commandId), streamId: `truck:${from}`, payload: { type: 'UNLOAD', shipmentId: id, replyTo: row.commandId } })
          break
        }
        case 'TRUCK_REPLY': {
          if (wait === null || wait.commandId !== p.to) {
            refuse(row.commandId, 'invalid_transition')
            break
          }
          const w = wait.state as { step: string; command: Record<string, unknown>; target: string | null; targetOpened: boolean; from: string | null }
          const cause = wait.commandId
          const finish = (refused: string | null) => {
            accept(row.commandId)
            if (refused !== null) refuse(cause, refused)
            else machine(w.command as { type: string }, cause, cause)
            wait = null
          }
          if (w.step === 'load') {
            const granted = p.outcome === 'accepted'
            if (!granted && p.reason !== 'not_found') {
              finish(String(p.reason))
              break
            }
            w.targetOpened = granted
            if (w.command.type === 'ASSIGN') w.command = { ...w.command, opened: granted }
            if (w.from === null) {
              finish(null)
              break
            }
            accept(row.commandId)
            w.step = 'unload'
            send({ id: ids.unload(cause), streamId: `truck:${w.from}`, payload: { type: 'UNLOAD', shipmentId: id, replyTo: cause } })
            break
          }
          const left = p.outcome === 'accepted'
          if (w.target !== null && w.targetOpened && w.from !== null) {
            send(left ? { id: ids.confirm(cause), streamId: `truck:${w.target}`, payload: { type: 'CONFIRM', shipmentId: id } } : { id: ids.release(cause), streamId: `truck:${w.target}`, payload: { type: 'RELEASE', shipmentId: id } })
          }
          finish(left ? null : String(p.reason ?? 'truck_departed'))
          break
        }
        default:
          machine(p as { type: string }, row.commandId, row.commandId)
      }
    }
    if (wait !== null) undecided.add((wait as { commandId: string }).commandId)
    for (const row of deferred) undecided.add(row.commandId)
  }
  return { verdicts, events, messages, undecided, problems }
}
