/**
 * The event streams this process holds open, by the token that opened them. A stream lives as long
 * as its token does: a revocation through this process's admin route ends the token's streams at
 * once (`revoked`), and every `recheckMs` each token with open streams is looked up again, so a
 * revocation made elsewhere (the CLI's `tokens revoke`, another `serve` process, a restore) ends them
 * within that interval. A lookup that fails (the database is busy or gone) ends nothing: the next
 * tick tries again. Each token may hold at most `maxPerToken` streams (one device cannot pin the
 * process with connections).
 */
export interface OpenStreamsOptions {
  readonly maxPerToken: number
  readonly recheckMs: number
}

export interface OpenStreamsDeps {
  /** False once the token is revoked (or unknown). */
  readonly isActive: (tokenId: string) => Promise<boolean>
  readonly log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void }
}

/** Ends one stream; `reason` is logged. */
export type EndStream = (reason: string) => void

export class OpenStreams {
  readonly #byToken = new Map<string, Set<EndStream>>()
  #timer: NodeJS.Timeout | null = null

  constructor(
    private readonly deps: OpenStreamsDeps,
    private readonly options: OpenStreamsOptions,
  ) {}

  /**
   * Registers a stream opened with `tokenId`. Returns the function that unregisters it (call it when
   * the stream ends for any reason), or null when the token already holds `maxPerToken` streams.
   */
  add(tokenId: string, end: EndStream): (() => void) | null {
    let streams = this.#byToken.get(tokenId)
    if (streams && streams.size >= this.options.maxPerToken) return null
    if (!streams) this.#byToken.set(tokenId, (streams = new Set()))
    streams.add(end)
    this.#timer ??= setInterval(() => void this.recheck(), this.options.recheckMs)
    this.#timer.unref()
    const registered = streams
    return () => {
      registered.delete(end)
      if (registered.size === 0 && this.#byToken.get(tokenId) === registered) this.#byToken.delete(tokenId)
      if (this.#byToken.size === 0) this.#stopTimer()
    }
  }

  /** Streams open with `tokenId` (all tokens when omitted). */
  count(tokenId?: string): number {
    if (tokenId !== undefined) return this.#byToken.get(tokenId)?.size ?? 0
    let n = 0
    for (const streams of this.#byToken.values()) n += streams.size
    return n
  }

  /** The token was revoked: its streams end now. */
  revoked(tokenId: string): void {
    this.#end(tokenId, 'token revoked')
  }

  /** Looks every token with open streams up again and ends the streams of those no longer valid. */
  async recheck(): Promise<void> {
    for (const tokenId of [...this.#byToken.keys()]) {
      let active: boolean
      try {
        active = await this.deps.isActive(tokenId)
      } catch (error) {
        this.deps.log.warn({ err: error, tokenId }, 'could not re-check a streaming token; trying again shortly')
        continue
      }
      if (!active) this.#end(tokenId, 'token revoked')
    }
  }

  /** Ends every stream (the server is closing: an open stream would hold `close()` forever). */
  closeAll(reason: string): void {
    for (const tokenId of [...this.#byToken.keys()]) this.#end(tokenId, reason)
    this.#stopTimer()
  }

  #end(tokenId: string, reason: string): void {
    const streams = this.#byToken.get(tokenId)
    if (!streams) return
    this.#byToken.delete(tokenId)
    if (this.#byToken.size === 0) this.#stopTimer()
    this.deps.log.info({ tokenId, streams: streams.size, reason }, 'ending event streams')
    for (const end of streams) end(reason)
  }

  #stopTimer(): void {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
  }
}
