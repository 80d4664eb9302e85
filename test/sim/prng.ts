/**
 * The simulator's only source of randomness: mulberry32, seeded. Every choice the simulator makes
 * (which task runs next, when a crash happens, what a scanner sends) comes from one of these, each
 * forked from the seed by a label, so a seed replays exactly and one concern drawing more numbers
 * does not shift the others.
 */
export class Rng {
  #state: number

  constructor(seed: number) {
    this.#state = seed >>> 0
  }

  /** A number in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0
    let t = this.#state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }

  chance(p: number): boolean {
    return p > 0 && this.next() < p
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from an empty list')
    return xs[this.int(xs.length)]!
  }

  /** Picks by weight (`[value, weight]` pairs). */
  weighted<T>(entries: ReadonlyArray<readonly [T, number]>): T {
    const total = entries.reduce((n, [, w]) => n + w, 0)
    let r = this.next() * total
    for (const [value, weight] of entries) {
      if ((r -= weight) < 0) return value
    }
    return entries[entries.length - 1]![0]
  }

  /** An independent stream for one concern (`label`), derived from this one's seed and the label. */
  fork(label: string): Rng {
    let h = 0x811c9dc5 ^ this.#state
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193)
    return new Rng(h >>> 0)
  }
}
