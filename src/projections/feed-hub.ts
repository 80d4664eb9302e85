import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import type { Faults } from '../faults.js'
import type { EventLog } from '../store/events.js'
import { apiEvent, type ApiEvent } from './queries.js'

/**
 * Fans the global event feed out to live subscribers (the SSE stream). It learns of new events from
 * this process's commits (`poke`) and, while anyone listens, by polling the log every `pollMs` (events
 * written by other worker processes). Each subscriber reads from its own position and is pumped on
 * its own, so a slow, stuck or resumed subscriber never delays the others, misses or repeats an event.
 *
 * Bounded cost per turn: a pump reads and delivers at most `chunk` events, then yields to the event
 * loop before the next chunk, so a catch-up from position 0 of a long log (by many readers at once)
 * shares the process with every other request instead of holding it until it is done.
 */
export interface FeedSubscriber {
  /** Position of the last event delivered. */
  after: number
  /** Delivers events after `after`, in order; resolves when they were written (or the client left). */
  deliver(events: readonly ApiEvent[]): Promise<void> | void
  /**
   * Reading or delivering failed for a reason other than the client leaving: the hub has dropped
   * the subscriber, which must end its stream (a stream left open would look live and stay silent).
   */
  failed(error: unknown): void
}

interface Pump {
  readonly subscriber: FeedSubscriber
  busy: boolean
  again: boolean
}

export interface FeedHubOptions {
  readonly pollMs?: number
  /** Most events read and delivered to one subscriber between two yields to the event loop. */
  readonly chunk?: number
  readonly faults?: Faults
}

export class FeedHub {
  readonly #pumps = new Set<Pump>()
  #timer: NodeJS.Timeout | null = null
  readonly #pollMs: number
  readonly #chunk: number

  constructor(
    private readonly log: EventLog,
    private readonly options: FeedHubOptions = {},
  ) {
    this.#pollMs = options.pollMs ?? 500
    this.#chunk = options.chunk ?? 100
  }

  subscribe(subscriber: FeedSubscriber): () => void {
    const pump: Pump = { subscriber, busy: false, again: false }
    this.#pumps.add(pump)
    this.#timer ??= setInterval(() => this.poke(), this.#pollMs)
    this.#timer.unref()
    this.#pump(pump)
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
    for (const pump of this.#pumps) this.#pump(pump)
  }

  /** Reads from the subscriber's position on; the read itself tells whether there is anything new. */
  #pump(pump: Pump): void {
    if (pump.busy) {
      pump.again = true
      return
    }
    pump.busy = true
    void (async () => {
      try {
        while (this.#pumps.has(pump)) {
          this.options.faults?.at('feed-read')
          const events = (await this.log.readAll(pump.subscriber.after, this.#chunk)).map(apiEvent)
          if (events.length === 0) break
          pump.subscriber.after = events[events.length - 1]!.position
          await pump.subscriber.deliver(events)
          // Other requests (and other pumps) get their turn before the next chunk.
          if (events.length === this.#chunk) await yieldToEventLoop()
        }
      } catch (error) {
        if (this.#pumps.delete(pump)) pump.subscriber.failed(error)
      } finally {
        pump.busy = false
        if (pump.again && this.#pumps.has(pump)) {
          pump.again = false
          this.#pump(pump)
        }
      }
    })()
  }
}
