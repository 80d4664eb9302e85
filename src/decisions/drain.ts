import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises'
import type { GroupCommit, Submission } from '../commands/group-commit.js'
import type { Faults } from '../faults.js'
import { FencedError } from '../store/cycle.js'
import { isDatabaseUnavailable } from '../store/sql.js'
import type { Store } from '../store/store.js'
import type { InboxCommand, SubmitResult } from '../store/types.js'
import type { ActorCache } from './actor-cache.js'
import { decisionCycle, type CycleResult, type DecidedCommand } from './cycle.js'
import type { Quarantine } from './quarantine.js'

/**
 * The drain loop: runs decision cycles (cycle.ts) while there is work for the partitions this process
 * holds, and commits the intake's group commit with them. One loop at a time per process; each cycle
 * is one write transaction of the store.
 *
 * After a commit — never before — submissions are settled, decided actors cached and the decisions
 * reported (`onDecided`); partitions that were sent messages are woken. A failed cycle is retried in
 * place (never through the queue, which would reorder): its submissions are first committed on their
 * own, a database that is away is waited for with backoff, a fenced partition is let go, and any
 * other failure goes to the quarantine, which finds the command that fails.
 */
export interface DrainOptions {
  /** The partition count (WAYBILL_PARTITIONS). */
  readonly partitions: number
  readonly batchMax: number
  readonly snapshotEvery: number
  /** After a partial batch, look again after this pause (0: stop until the next kick). */
  readonly lingerMs: number
  /** How long a submission may wait for the database (locked by another process) before it fails. */
  readonly intakeWaitMs: number
}

export interface DrainDeps {
  readonly store: Store
  readonly intake: GroupCommit
  readonly actors: ActorCache
  readonly quarantine: Quarantine
  readonly faults?: Faults
  readonly clock: () => number
  readonly log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void }
  /** After each commit, with what it decided. */
  readonly onDecided: (decided: readonly DecidedCommand[]) => void
  /** After a commit that sent messages to these partitions (their owners must look). */
  readonly onMessages?: (wake: CycleResult['wake']) => void
  /** A write found the partition claimed by a newer owner. */
  readonly onFenced?: (partition: number) => void
}

/** A `kick()` waiting for the commands pending when it was made. */
interface Waiter {
  /** The highest seq in the inbox at the kick: released once `through` reaches it. */
  readonly mark: number
  /** The partition whose queue job waits here (released when the partition is revoked). */
  readonly partition: number | undefined
  readonly resolve: () => void
}

export class DrainLoop {
  readonly #held = new Map<number, number>()
  #requested = false
  #running: Promise<void> | null = null
  #waiters: Waiter[] = []
  #cycles = 0
  #stopped = false
  /** Ends a backoff early: new submissions are tried (and answered) at once, not after the pause. */
  #interrupt: (() => void) | null = null

  constructor(
    private readonly deps: DrainDeps,
    private readonly options: DrainOptions,
  ) {
    deps.intake.onSubmit(() => {
      this.#interrupt?.()
      // A submission asks for a cycle but waits for nothing else: no kick waiter per command.
      this.#wake()
    })
  }

  /** Write transactions committed so far. */
  cycles(): number {
    return this.#cycles
  }

  /** Kicks still waiting for their watermark (bounded by the kicks made, not by the traffic). */
  waiting(): number {
    return this.#waiters.length
  }

  /** This process now owns `partition` under `epoch` (the cache of older epochs is void). */
  grant(partition: number, epoch: number): void {
    this.#held.set(partition, epoch)
  }

  /** This process no longer owns `partition`; the queue job waiting on it is let go at once. */
  revoke(partition: number): void {
    this.#held.delete(partition)
    if (this.#waiters.some((w) => w.partition === partition)) this.#release((w) => w.partition === partition)
  }

  held(): ReadonlyMap<number, number> {
    return this.#held
  }

  /**
   * Asks for a drain pass. Resolves when every command that was pending in a held partition when the
   * call was made has been decided: by a watermark (the highest seq in the inbox now), released by
   * the first cycle whose read reaches it, full batch or not, so a kick is answered under saturation
   * too. Also resolves when the loop stops, or when `partition` (the queue job's) is revoked.
   */
  async kick(partition?: number): Promise<void> {
    if (this.#stopped) return
    const mark = await this.deps.store.inbox.lastSeq().catch(() => Number.MAX_SAFE_INTEGER) // unknown: the first cycle that finds nothing more
    if (this.#stopped) return
    return new Promise((resolve) => {
      this.#waiters.push({ mark, partition, resolve })
      this.#wake()
    })
  }

  #wake(): void {
    this.#requested = true
    this.#running ??= this.#loop()
  }

  #release(which: (waiter: Waiter) => boolean): void {
    const keep: Waiter[] = []
    for (const waiter of this.#waiters) {
      if (which(waiter)) waiter.resolve()
      else keep.push(waiter)
    }
    this.#waiters = keep
  }

  /** Stops after the cycle in progress; pending commands stay in the inbox for the next owner. */
  async stop(): Promise<void> {
    this.#stopped = true
    this.#interrupt?.()
    await this.#running
    this.#release(() => true)
    this.deps.intake.stop()
  }

  /**
   * One loop at a time. A kick that lands while the loop is finishing starts the next loop here, so
   * no kick is ever lost; an unexpected error is logged and answered by a retry a second later
   * instead of ending the process.
   */
  async #loop(): Promise<void> {
    try {
      // Start on the next turn, so that everything submitted in this one shares the first cycle.
      await yieldToEventLoop()
      await this.#passes()
    } catch (error) {
      this.deps.log.error({ err: error }, 'decision loop failed; retrying in a second')
      setTimeout(() => void this.kick(), 1000).unref()
    } finally {
      this.#running = null
      if (this.#requested && !this.#stopped) this.#running = this.#loop()
    }
  }

  #run(intake: readonly Submission[], only?: InboxCommand): Promise<CycleResult> {
    const commands = intake.flatMap((s) => s.commands)
    // An offline batch larger than batchMax is taken in whole (atomic): it is decided in that cycle too.
    const batchMax = Math.max(this.options.batchMax, commands.length)
    const input = { intake: commands, held: new Map(this.#held), partitions: this.options.partitions, batchMax, ...(only ? { only } : {}) }
    return this.deps.store.cycle(() =>
      decisionCycle(input, { actors: this.deps.actors, clock: this.deps.clock, snapshotEvery: this.options.snapshotEvery, ...(this.deps.faults ? { faults: this.deps.faults } : {}) }),
    )
  }

  /**
   * Drains while there is work. After every committed cycle the kicks whose watermark it reached are
   * released. A full batch, or a full batch of submissions waiting, start the next cycle at once;
   * after a partial batch that held commands other processes took in, with nothing submitted here,
   * the loop lingers `lingerMs` and looks again, so under load the commands arriving meanwhile form
   * the next batch without a round trip through Redis; it stops at the first idle look. When the
   * batch held only this process's own submissions it stops at once: the next submission wakes it
   * (with the pause, a steady 500 commands/s had a median answer of 1.5 ms; without, 1.1 ms).
   */
  async #passes(): Promise<void> {
    let failures = 0
    while (!this.#stopped) {
      this.#requested = false
      const intake = this.deps.intake.take(this.options.batchMax)
      let cycle: CycleResult
      try {
        cycle = await this.#run(intake)
        failures = 0
      } catch (error) {
        await this.#commitIntakeAlone(intake)
        if (error instanceof FencedError) {
          this.#fenced(error)
          continue
        }
        failures++
        if (isDatabaseUnavailable(error)) {
          this.deps.log.warn({ err: error, failures }, 'database unavailable; retrying in place')
        } else {
          this.deps.log.error({ err: error, failures }, 'decision cycle failed; finding the command that fails')
          await this.#isolate()
        }
        await this.#backoff(failures, error)
        continue
      }
      this.#committed(intake, cycle)
      if (this.#waiters.length > 0) this.#release((w) => w.mark <= cycle.through)
      if (cycle.through !== Infinity || this.deps.intake.backlog() >= this.options.batchMax) {
        await yieldToEventLoop()
        continue
      }
      const idle = cycle.decided.length === 0 && intake.length === 0 && this.deps.intake.backlog() === 0
      if (idle && !this.#requested) break
      // Lingering pays only for commands other processes take in (their wake-up jobs go through Redis):
      // this process's own submissions wake the loop at once, and a pause before them only delays them.
      if (idle || this.options.lingerMs === 0 || !cycle.fromInbox) {
        if (this.deps.intake.backlog() === 0 && !this.#requested) break
        await yieldToEventLoop()
      } else if (this.deps.intake.backlog() > 0) {
        // Commands already wait: the next cycle starts at once (after this turn's I/O has added to it).
        await yieldToEventLoop()
      } else {
        await sleep(this.options.lingerMs)
      }
    }
    if (this.#stopped) this.#release(() => true)
  }

  /**
   * Waits before the next attempt. A new submission cuts the wait short (so a full disk answers it at
   * once), except while the database is locked: each attempt then waits in SQLite's busy handler.
   */
  async #backoff(failures: number, error: unknown): Promise<void> {
    const locked = /^SQLITE_(BUSY|LOCKED)/.test(String((error as { code?: unknown }).code))
    let timer: NodeJS.Timeout | undefined
    await new Promise<void>((resolve) => {
      if (!locked) this.#interrupt = resolve
      timer = setTimeout(resolve, Math.min(1000, 10 * 2 ** Math.min(failures, 7)))
    })
    clearTimeout(timer)
    this.#interrupt = null
  }

  /** After a committed cycle: answer submissions, remember actors, report decisions, wake message targets. */
  #committed(intake: readonly Submission[], cycle: CycleResult): void {
    this.#cycles++
    // Fault point (tests only): a cycle that took something in or decided something has committed.
    if (intake.length > 0 || cycle.decided.length > 0) this.deps.faults?.at('after-commit')
    settle(intake, cycle.submitted)
    for (const [streamId, { actor, epoch }] of cycle.actors) this.deps.actors.set(streamId, actor, epoch)
    if (cycle.decided.length > 0) this.deps.onDecided(cycle.decided)
    if (cycle.wake.size > 0) {
      this.deps.onMessages?.(cycle.wake)
      // Messages to partitions held here but not decided in the cycle: the next pass looks at them.
      if ([...cycle.wake.keys()].some((p) => this.#held.has(p))) this.#requested = true
    }
  }

  #fenced(error: FencedError): void {
    this.revoke(error.partition)
    this.deps.onFenced?.(error.partition)
    this.deps.log.warn({ err: error, partition: error.partition }, 'partition taken over by another worker')
  }

  /**
   * After a failed cycle its submissions are committed on their own. While the database is locked
   * (another process) they wait, in order, up to `intakeWaitMs`; other errors refuse them (503).
   */
  async #commitIntakeAlone(intake: readonly Submission[]): Promise<void> {
    if (intake.length === 0) return
    try {
      settle(intake, await this.deps.store.submit(intake.flatMap((s) => s.commands)))
    } catch (error) {
      const code = (error as { code?: string }).code ?? ''
      const now = this.deps.clock()
      const retry = code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED') ? intake.filter((s) => now - s.since < this.options.intakeWaitMs) : []
      for (const s of intake) if (!retry.includes(s)) s.reject(error)
      this.deps.intake.putBack(retry)
    }
  }

  /** Cycles of one command each, in order, until the one that fails is found (see quarantine.ts). */
  async #isolate(): Promise<void> {
    try {
      await this.deps.quarantine.isolate([...this.#held.keys()], async (command) => {
        if (!this.#held.has(command.partition)) return
        this.#committed([], await this.#run([], command))
      })
    } catch (error) {
      if (error instanceof FencedError) this.#fenced(error)
      // A database that is away: the next pass retries.
    }
  }
}

/** Hands each submission its commands' results (in the order the submissions' commands were committed). */
function settle(intake: readonly Submission[], results: readonly SubmitResult[]): void {
  let at = 0
  for (const s of intake) s.resolve(results.slice(at, (at += s.commands.length)))
}
