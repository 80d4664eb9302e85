/**
 * Fault injection, for tests only: off unless `WAYBILL_FAULTS` is set. It makes the points a crash
 * test must reach reachable on purpose instead of by luck.
 *
 *   crash:<point>:<n>            the process kills itself (SIGKILL, like kill -9) the n-th time it
 *                                reaches <point>
 *   crash:<point>:p<x>:<seed>    … with probability x each time (deterministic for a seed)
 *   fail:<point>:<n>             reaching <point> throws an InjectedFault the n-th time (an error where
 *                                the code must not treat it as anything else, e.g. a client gone)
 *   poison:<shipmentId>          deciding a command of that shipment throws (an "infrastructure"
 *                                error), to exercise retry-in-place and parking
 *   ignore-leases                take every partition regardless of Redis leases (negative control:
 *                                two owners of one partition; only the fencing epoch protects)
 *   no-fence                     write without checking the partition's fencing epoch (negative
 *                                control for the history checker: with ignore-leases, a superseded
 *                                owner decides from its stale cache)
 *   no-dedupe                    ignore Idempotency-Keys (negative control for the history checker:
 *                                a resent request becomes a second command)
 *   non-idempotent-saga          a message between actors gets another id each time its decision is
 *                                made again (negative control for the saga checker and the simulator:
 *                                a decision retried after a failed, crashed or fenced cycle sends a
 *                                message no rule names, as an id made from a counter or a clock would)
 *
 * Points: `before-commit` (a cycle with commands to decide has begun, nothing written), `after-events` (events appended,
 * transaction open), `after-commit` (a cycle that took in or decided commands committed; replies not
 * sent, wake-up job not acknowledged),
 * `after-reply` (a command's or a batch's HTTP answer was sent), `feed-read` (the event feed reads a chunk of the
 * log for a stream).
 */
export type FaultPoint = 'before-commit' | 'after-events' | 'after-commit' | 'after-reply' | 'feed-read'

export interface Faults {
  /** Called at a fault point: may end the process, or throw. */
  at(point: FaultPoint): void
  /** Throws if processing commands of this shipment is set to fail. */
  poison(shipmentId: string): void
  readonly ignoreLeases: boolean
  readonly noFence: boolean
  readonly noDedupe: boolean
  /** See `non-idempotent-saga` (in force through `sagaFaults`, which the message ids read). */
  readonly nonIdempotentSaga?: boolean
}

/**
 * The saga's test-only switch (`non-idempotent-saga`), process-wide like the faults themselves: read
 * where message ids are made (decisions/messages.ts), which has no Faults of its own. `built` counts
 * how often each message was made, so only a decision made again gets another id.
 */
export const sagaFaults: { nonIdempotent: boolean; readonly built: Map<string, number> } = { nonIdempotent: false, built: new Map() }

export class InjectedFault extends Error {
  override readonly name = 'InjectedFault'
}

export const noFaults: Faults = { at: () => {}, poison: () => {}, ignoreLeases: false, noFence: false, noDedupe: false }

export function parseFaults(spec: string | undefined): Faults {
  if (!spec) return noFaults
  const crashes = new Map<string, () => boolean>()
  const failures = new Map<string, () => boolean>()
  const poisoned = new Set<string>()
  let ignoreLeases = false
  let noFence = false
  let noDedupe = false
  let nonIdempotentSaga = false
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [kind, a, b, c] = part.split(':')
    if (kind === 'crash' && a && b?.startsWith('p')) {
      const probability = Number(b.slice(1))
      let state = Number(c ?? 1) >>> 0 || 1
      crashes.set(a, () => {
        state ^= state << 13
        state ^= state >>> 17
        state ^= state << 5
        return (state >>> 0) / 2 ** 32 < probability
      })
    } else if (kind === 'crash' && a && b) {
      let left = Number(b)
      crashes.set(a, () => --left === 0)
    } else if (kind === 'fail' && a && b) {
      let left = Number(b)
      failures.set(a, () => --left === 0)
    } else if (kind === 'poison' && a) {
      poisoned.add(a)
    } else if (kind === 'ignore-leases') {
      ignoreLeases = true
    } else if (kind === 'no-fence') {
      noFence = true
    } else if (kind === 'no-dedupe') {
      noDedupe = true
    } else if (kind === 'non-idempotent-saga') {
      nonIdempotentSaga = true
      sagaFaults.nonIdempotent = true
    } else {
      throw new Error(`WAYBILL_FAULTS: cannot read "${part}"`)
    }
  }
  return {
    at(point) {
      if (crashes.get(point)?.()) process.kill(process.pid, 'SIGKILL')
      if (failures.get(point)?.()) throw new InjectedFault(`injected failure at ${point}`)
    },
    poison(shipmentId) {
      if (poisoned.has(shipmentId)) throw new InjectedFault(`injected failure while deciding a command of ${shipmentId}`)
    },
    ignoreLeases,
    noFence,
    noDedupe,
    nonIdempotentSaga,
  }
}
