import type { EventStore } from '../store/event-store.js'
import { apiEvent, type ApiEvent } from './queries.js'

/**
 * Fans the global event feed out to live subscribers (the SSE stream). It learns of new events from
 * this process's commits (`poke`) and, while anyone listens, by polling the log every `pollMs` (events
 * written by other worker processes). Each subscriber reads from its own position and is pumped on
 * its own, so a slow, stuck or resumed subscriber never delays the others, misses or repeats an event.
 */
export interface FeedSubscriber {
  /** Position of the last event delivered. */
  after: number
  /** Delivers events after `after`, in order; resolves when they were written. */
  deliver(events: readonly ApiEvent[]): Promise<void> | void
}

interface Pump {
  readonly subscriber: FeedSubscriber
  busy: boolean
  again: boolean
}

export class FeedHub {
  readonly #pumps = new Set<Pump>()
  #timer: NodeJS.Timeout | null = null

  constructor(
    private readonly store: EventStore,
    private readonly pollMs = 500,
    private readonly batch = 500,
  ) {}

  subscribe(subscriber: FeedSubscriber): () => void {
    const pump: Pump = { subscriber, busy: false, again: false }
    this.#pumps.add(pump)
    this.#timer ??= setInterval(() => this.poke(), this.pollMs)
    this.#timer.unref()
    this.#pump(pump, this.store.lastPosition())
    return () => {
      this.#pumps.delete(pump)
      if (this.#pumps.size === 0 && this.#timer) {
        clearInterval(this.#timer)
        this.#timer = null
      }
    }
  }

  get size(): number {
    return this.#pumps.size
  }

  /** New events may exist: deliver them to everyone who is behind. */
  poke(): void {
    if (this.#pumps.size === 0) return
    const last = this.store.lastPosition()
    for (const pump of this.#pumps) this.#pump(pump, last)
  }

  #pump(pump: Pump, last: number): void {
    if (pump.subscriber.after >= last) return
    if (pump.busy) {
      pump.again = true
      return
    }
    pump.busy = true
    void (async () => {
      try {
        while (this.#pumps.has(pump)) {
          const events = this.store.readAll(pump.subscriber.after, this.batch).map(apiEvent)
          if (events.length === 0) break
          pump.subscriber.after = events[events.length - 1]!.position
          await pump.subscriber.deliver(events)
        }
      } catch {
        // The subscriber's connection failed: it is gone (its stream's close handler unsubscribes it).
        this.#pumps.delete(pump)
      } finally {
        pump.busy = false
        if (pump.again && this.#pumps.has(pump)) {
          pump.again = false
          this.#pump(pump, this.store.lastPosition())
        }
      }
    })()
  }
}
