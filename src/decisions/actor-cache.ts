import { LRUCache } from 'lru-cache'
import { kindOfStream } from '../../machines/kinds.js'
import { emptyActor, fromStoredSnapshot, replayActor, snapshotSchemas, type Actor } from '../projections/actors.js'
import type { LoadedStream } from '../store/cycle.js'

/**
 * Hot actors stay hydrated here, one LRU per decision loop: the latest committed actor of each
 * stream, tagged with the partition epoch it was committed under (a new owner's epoch voids it:
 * another process may have written the stream meanwhile). A miss is hydrated from what the cycle's
 * `load` read: the newest checkpoint of the kind's schema plus the events after it, else a replay
 * from the first event — all through the kind's pure `evolve`, never a live actor.
 */
export type HydrationSource = 'cache' | 'snapshot' | 'replay'

export interface ActorCacheOptions {
  /** Most actors kept; 0 disables the cache. */
  readonly size: number
  readonly onHydrate?: (source: HydrationSource) => void
}

interface Cached {
  readonly actor: Actor
  readonly epoch: number
}

export class ActorCache {
  readonly #cache: LRUCache<string, Cached> | null

  constructor(private readonly options: ActorCacheOptions) {
    this.#cache = options.size > 0 ? new LRUCache({ max: options.size }) : null
  }

  /** The cached actor if it was committed under `epoch`. */
  get(streamId: string, epoch: number): Actor | undefined {
    const cached = this.#cache?.get(streamId)
    if (cached && cached.epoch === epoch) {
      this.options.onHydrate?.('cache')
      return cached.actor
    }
    return undefined
  }

  /** Records the actor after a committed transaction. */
  set(streamId: string, actor: Actor, epoch: number): void {
    this.#cache?.set(streamId, { actor, epoch })
  }

  delete(streamId: string): void {
    this.#cache?.delete(streamId)
  }

  clear(): void {
    this.#cache?.clear()
  }

  get size(): number {
    return this.#cache?.size ?? 0
  }

  /** The actor `load` read: checkpoint + tail (or a replay), with the stream's saga wait. */
  hydrate(loaded: LoadedStream): Actor {
    const kind = kindOfStream(loaded.streamId)
    const base = loaded.snapshot ? fromStoredSnapshot(kind, loaded.snapshot) : emptyActor(kind)
    this.options.onHydrate?.(loaded.snapshot ? 'snapshot' : 'replay')
    return { ...replayActor(loaded.events, base), wait: loaded.wait }
  }

  /** The checkpoint schemas a `load` of these streams asks for (each kind's readable ones). */
  static schemasOf(streamIds: Iterable<string>): string[] {
    return [...new Set([...streamIds].flatMap((id) => snapshotSchemas(kindOfStream(id))))]
  }
}
