/**
 * Fault injection, for tests only: off unless `WAYBILL_FAULTS` is set. It makes the points a crash
 * test must reach reachable on purpose instead of by luck.
 *
 *   crash:<point>:<n>            the process kills itself (SIGKILL, like kill -9) the n-th time it
 *                                reaches <point>
 *   crash:<point>:p<x>:<seed>    … with probability x each time (deterministic for a seed)
 *   poison:<shipmentId>          deciding a command of that shipment throws (an "infrastructure"
 *                                error), to exercise retry-in-place and parking
 *   ignore-leases                take every partition regardless of Redis leases (negative control:
 *                                two owners of one partition; only the fencing epoch protects)
 *
 * Points: `before-commit` (a cycle has begun, nothing written), `after-events` (events appended,
 * transaction open), `after-commit` (committed; replies not sent, wake-up job not acknowledged),
 * `after-reply` (a command's HTTP answer was sent).
 */
export type FaultPoint = 'before-commit' | 'after-events' | 'after-commit' | 'after-reply'

export interface Faults {
  /** Called at a fault point: may end the process. */
  at(point: FaultPoint): void
  /** Throws if processing commands of this shipment is set to fail. */
  poison(shipmentId: string): void
  readonly ignoreLeases: boolean
}

export class InjectedFault extends Error {
  override readonly name = 'InjectedFault'
}

export const noFaults: Faults = { at: () => {}, poison: () => {}, ignoreLeases: false }

export function parseFaults(spec: string | undefined): Faults {
  if (!spec) return noFaults
  const crashes = new Map<string, () => boolean>()
  const poisoned = new Set<string>()
  let ignoreLeases = false
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
    } else if (kind === 'poison' && a) {
      poisoned.add(a)
    } else if (kind === 'ignore-leases') {
      ignoreLeases = true
    } else {
      throw new Error(`WAYBILL_FAULTS: cannot read "${part}"`)
    }
  }
  return {
    at(point) {
      if (crashes.get(point)?.()) process.kill(process.pid, 'SIGKILL')
    },
    poison(shipmentId) {
      if (poisoned.has(shipmentId)) throw new InjectedFault(`injected failure while deciding a command of ${shipmentId}`)
    },
    ignoreLeases,
  }
}
