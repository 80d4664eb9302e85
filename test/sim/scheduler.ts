import { createRequire, syncBuiltinESMExports } from 'node:module'
import type { Rng } from './prng.js'

/**
 * The simulator's event loop: simulated time and every macrotask of the simulated world.
 *
 * While a seed runs, `setTimeout`, `setInterval`, `setImmediate` (global and `node:timers/promises`)
 * are replaced by this scheduler's, so nothing in the real code waits for wall time. Each task
 * belongs to an *owner* — a simulated process, a client, the Redis server, the simulator itself: the
 * owner of the task whose code (or microtasks) made it, or the one named (clients always name theirs,
 * since a continuation of theirs may run among a process's microtasks). The loop runs one task
 * at a time and then lets every microtask it caused run out (one real `setImmediate` hop, with no
 * real I/O or timer pending, so the order is deterministic): pending immediates first, one owner
 * picked at random by the seed (each owner's immediates in FIFO order, as Node runs them), then the
 * earliest timer, advancing the simulated time to it.
 *
 * An owner that dies (kill -9) loses its tasks and timers; a paused one (SIGSTOP) keeps them for later.
 */
export class Owner {
  alive = true
  paused = false
  readonly immediates: Task[] = []
  /** Timers held while paused. */
  readonly held: Task[] = []
  readonly #deaths: Array<() => void> = []
  readonly died: Promise<void>

  constructor(readonly name: string) {
    this.died = new Promise((resolve) => this.#deaths.push(resolve))
  }

  kill(): void {
    if (!this.alive) return
    this.alive = false
    this.immediates.length = 0
    this.held.length = 0
    for (const resolve of this.#deaths.splice(0)) resolve()
  }
}

export interface Task {
  readonly owner: Owner
  readonly fn: (...args: unknown[]) => void
  readonly args: unknown[]
  at: number
  readonly seq: number
  cancelled: boolean
  /** Repeats every this many ms (setInterval). */
  readonly every?: number
}

/** What `setTimeout` returns here: enough of NodeJS.Timeout for the code under test. */
class Handle {
  constructor(readonly task: Task) {}
  unref(): this {
    return this
  }
  ref(): this {
    return this
  }
  hasRef(): boolean {
    return false
  }
  refresh(): this {
    return this
  }
  [Symbol.toPrimitive](): number {
    return this.task.seq
  }
}

const require = createRequire(import.meta.url)
const timersPromises = require('node:timers/promises') as typeof import('node:timers/promises')
const real = {
  setTimeout: globalThis.setTimeout,
  clearTimeout: globalThis.clearTimeout,
  setInterval: globalThis.setInterval,
  clearInterval: globalThis.clearInterval,
  setImmediate: globalThis.setImmediate,
  clearImmediate: globalThis.clearImmediate,
  promisesSetImmediate: timersPromises.setImmediate,
  promisesSetTimeout: timersPromises.setTimeout,
}

/** One real macrotask: every microtask queued before it has run. */
export const hop = (): Promise<void> => new Promise((resolve) => real.setImmediate(resolve))

/** A small binary heap of timers by (at, seq). */
class TimerHeap {
  readonly #items: Task[] = []
  get size(): number {
    return this.#items.length
  }
  push(task: Task): void {
    const a = this.#items
    a.push(task)
    let i = a.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(a[i]!, a[parent]!)) break
      ;[a[i], a[parent]] = [a[parent]!, a[i]!]
      i = parent
    }
  }
  peek(): Task | undefined {
    return this.#items[0]
  }
  pop(): Task | undefined {
    const a = this.#items
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last) {
      a[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < a.length && before(a[l]!, a[m]!)) m = l
        if (r < a.length && before(a[r]!, a[m]!)) m = r
        if (m === i) break
        ;[a[i], a[m]] = [a[m]!, a[i]!]
        i = m
      }
    }
    return top
  }
}
const before = (x: Task, y: Task) => x.at < y.at || (x.at === y.at && x.seq < y.seq)

export class Scheduler {
  /** Simulated time (ms since the start of the seed): the "true" time; processes' clocks may be off. */
  now = 0
  #current: Owner | null = null
  /** The simulator's own owner (clients, chaos and checks use their own). */
  readonly sim = new Owner('sim')
  readonly #timers = new TimerHeap()
  readonly #owners = new Set<Owner>([this.sim])
  #seq = 0
  #installed = false
  /** Tasks run (a measure of the schedule's length). */
  steps = 0
  /** Order of owners picked for immediates, hashed (the schedule's fingerprint). */
  trace = 0x811c9dc5
  /** Errors thrown by a task (a real process would have died of them). */
  readonly uncaught: unknown[] = []
  /** Run right after the current task's microtasks (closing a dead process's connection). */
  readonly #boundary: Array<() => void> = []

  constructor(
    private readonly rng: Rng,
    private readonly options: { readonly cpuMsRate: number; readonly isCrash: (error: unknown) => boolean },
  ) {}

  owner(name: string): Owner {
    const owner = new Owner(name)
    this.#owners.add(owner)
    return owner
  }

  current(): Owner {
    return this.#current ?? this.sim
  }

  /** Runs `fn` as `owner`: the timers it makes synchronously belong to it. */
  as<T>(owner: Owner, fn: () => T): T {
    const outer = this.#current
    this.#current = owner
    try {
      return fn()
    } finally {
      this.#current = outer
    }
  }

  atBoundary(fn: () => void): void {
    this.#boundary.push(fn)
  }

  pause(owner: Owner): void {
    owner.paused = true
  }

  resume(owner: Owner): void {
    if (!owner.paused) return
    owner.paused = false
    for (const task of owner.held.splice(0)) this.#timers.push(task)
  }

  timeout(fn: (...args: unknown[]) => void, ms: number, args: unknown[] = [], owner = this.current(), every?: number): Handle {
    const task: Task = { owner, fn, args, at: this.now + Math.max(0, Number.isFinite(ms) ? ms : 0), seq: ++this.#seq, cancelled: false, ...(every === undefined ? {} : { every }) }
    if (owner.paused) owner.held.push(task)
    else if (owner.alive) this.#timers.push(task)
    return new Handle(task)
  }

  immediate(fn: (...args: unknown[]) => void, args: unknown[] = [], owner = this.current()): Handle {
    const task: Task = { owner, fn, args, at: this.now, seq: ++this.#seq, cancelled: false }
    if (owner.alive) owner.immediates.push(task)
    return new Handle(task)
  }

  /** A promise resolved after `ms` of simulated time. */
  sleep(ms: number, owner = this.current()): Promise<void> {
    return new Promise((resolve) => this.timeout(() => resolve(), ms, [], owner))
  }

  /** A cancellable sleep. */
  timer(ms: number, owner = this.current()): { readonly promise: Promise<void>; cancel(): void } {
    let handle!: Handle
    const promise = new Promise<void>((resolve) => (handle = this.timeout(() => resolve(), ms, [], owner)))
    return { promise, cancel: () => void (handle.task.cancelled = true) }
  }

  /** Replaces the timers of the process (global and node:timers/promises) with this scheduler's. */
  install(): void {
    if (this.#installed) return
    this.#installed = true
    const cancel = (handle: unknown) => {
      if (handle instanceof Handle) handle.task.cancelled = true
    }
    const g = globalThis as unknown as Record<string, unknown>
    g.setTimeout = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => this.timeout(fn, ms ?? 0, args)
    g.setInterval = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => this.timeout(fn, Math.max(1, ms ?? 1), args, this.current(), Math.max(1, ms ?? 1))
    g.setImmediate = (fn: (...args: unknown[]) => void, ...args: unknown[]) => this.immediate(fn, args)
    g.clearTimeout = cancel
    g.clearInterval = cancel
    g.clearImmediate = cancel
    const tp = timersPromises as unknown as Record<string, unknown>
    tp.setImmediate = <T>(value?: T) => new Promise<T | undefined>((resolve) => this.immediate(() => resolve(value)))
    tp.setTimeout = <T>(ms?: number, value?: T) => new Promise<T | undefined>((resolve) => this.timeout(() => resolve(value), ms ?? 0))
    syncBuiltinESMExports()
  }

  uninstall(): void {
    if (!this.#installed) return
    this.#installed = false
    const g = globalThis as unknown as Record<string, unknown>
    g.setTimeout = real.setTimeout
    g.setInterval = real.setInterval
    g.setImmediate = real.setImmediate
    g.clearTimeout = real.clearTimeout
    g.clearInterval = real.clearInterval
    g.clearImmediate = real.clearImmediate
    const tp = timersPromises as unknown as Record<string, unknown>
    tp.setImmediate = real.promisesSetImmediate
    tp.setTimeout = real.promisesSetTimeout
    syncBuiltinESMExports()
  }

  #exec(task: Task): void {
    this.steps++
    if (task.every !== undefined && task.owner.alive) {
      task.at = this.now + task.every
      if (task.owner.paused) task.owner.held.push(task)
      else this.#timers.push(task)
    }
    // The owner stays current while the task's microtasks run (its continuations are its own); the
    // loop clears it after the hop.
    this.#current = task.owner
    try {
      task.fn(...task.args)
    } catch (error) {
      if (!this.options.isCrash(error) && task.owner.alive) this.uncaught.push(error)
    }
  }

  /**
   * Runs the world until `stop()` says so (checked after every task), nothing is left to run
   * ('idle'), or the next task is later than `until` ('limit').
   */
  async run(stop: () => boolean, until: number): Promise<'stopped' | 'idle' | 'limit'> {
    const ready: Owner[] = []
    for (;;) {
      await hop()
      this.#current = null
      for (const fn of this.#boundary.splice(0)) fn()
      if (stop()) return 'stopped'
      ready.length = 0
      for (const owner of this.#owners) {
        if (!owner.alive) {
          this.#owners.delete(owner)
          continue
        }
        if (!owner.paused && owner.immediates.length > 0) ready.push(owner)
      }
      if (ready.length > 0) {
        const owner = ready.length === 1 ? ready[0]! : ready[this.rng.int(ready.length)]!
        const task = owner.immediates.shift()!
        if (task.cancelled) continue
        this.trace = Math.imul(this.trace ^ (owner.name.length * 31 + owner.name.charCodeAt(owner.name.length - 1)), 0x01000193)
        if (this.options.cpuMsRate > 0 && this.rng.chance(this.options.cpuMsRate)) this.now += 1
        this.#exec(task)
        continue
      }
      let task: Task | undefined
      for (;;) {
        task = this.#timers.peek()
        if (!task) break
        if (task.cancelled || !task.owner.alive) {
          this.#timers.pop()
          continue
        }
        if (task.owner.paused) {
          this.#timers.pop()
          task.owner.held.push(task)
          continue
        }
        break
      }
      if (!task) return 'idle'
      if (task.at > until) return 'limit'
      this.#timers.pop()
      this.now = Math.max(this.now, task.at)
      this.trace = Math.imul(this.trace ^ task.at, 0x01000193)
      this.#exec(task)
    }
  }
}
