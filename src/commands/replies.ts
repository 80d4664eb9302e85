import type { CommandReport } from '../projections/report.js'

/**
 * Requests waiting for their command's outcome. The worker settles them right after its commit: in
 * this process directly, and through the `decided` Redis channel for requests held by another process
 * (which then reads the outcome from SQLite). A waiter is registered before the command is queued, so
 * a reply can never arrive before anyone listens; a waiter that times out simply answers 202.
 */
export class Replies {
  readonly #waiters = new Map<string, Set<(report: CommandReport) => void>>()

  wait(
    commandId: string,
    timeoutMs: number,
  ): { readonly promise: Promise<CommandReport | null>; readonly cancel: () => void; readonly settled: () => boolean } {
    let settle!: (report: CommandReport | null) => void
    let settled = false
    const promise = new Promise<CommandReport | null>((resolve) => (settle = resolve))
    const listener = (report: CommandReport) => done(report)
    const timer = setTimeout(() => done(null), timeoutMs)
    const done = (report: CommandReport | null) => {
      if (settled) return
      settled = report !== null
      clearTimeout(timer)
      const set = this.#waiters.get(commandId)
      set?.delete(listener)
      if (set?.size === 0) this.#waiters.delete(commandId)
      settle(report)
    }
    let set = this.#waiters.get(commandId)
    if (!set) this.#waiters.set(commandId, (set = new Set()))
    set.add(listener)
    return { promise, cancel: () => done(null), settled: () => settled }
  }

  isWaiting(commandId: string): boolean {
    return this.#waiters.has(commandId)
  }

  settle(reports: readonly CommandReport[]): void {
    for (const report of reports) {
      const set = this.#waiters.get(report.commandId)
      if (set) for (const listener of [...set]) listener(report)
    }
  }

  get size(): number {
    return this.#waiters.size
  }
}
