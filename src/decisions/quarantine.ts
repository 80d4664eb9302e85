import { FencedError } from '../store/cycle.js'
import { isDatabaseUnavailable } from '../store/sql.js'
import type { Store } from '../store/store.js'
import type { InboxCommand } from '../store/types.js'
import type { ActorCache } from './actor-cache.js'

/**
 * Quarantine and parking. A cycle failed for a reason that may be one command's (a bug, a damaged
 * row, a poisoned stream): the pending commands are tried one per transaction, in order, up to the
 * first that fails. That command's failure is counted; at `maxAttempts` its stream is parked (a dead
 * letter), so that every other stream flows while an admin looks at it. Only the streams tried lose
 * their cached actors (one poison stream never clears the whole cache).
 */
export interface QuarantineDeps {
  readonly store: Pick<Store, 'inbox' | 'parking'>
  readonly actors: ActorCache
  readonly clock: () => number
  readonly log: { error(obj: object, msg: string): void }
  readonly onParked?: (command: { readonly commandId: string; readonly streamId: string }, error: string) => void
}

export type TryOne = (command: InboxCommand) => Promise<void>

export class Quarantine {
  constructor(
    private readonly deps: QuarantineDeps,
    private readonly options: { readonly maxAttempts: number; readonly batchMax: number },
  ) {}

  /**
   * Tries the pending commands of `partitions` one by one with `tryOne` (a cycle of one). Fenced and
   * database-unavailable errors end the round without counting against any command.
   */
  async isolate(partitions: readonly number[], tryOne: TryOne): Promise<void> {
    let pending: InboxCommand[]
    try {
      pending = await this.deps.store.inbox.pending(partitions, this.options.batchMax)
    } catch {
      return
    }
    for (const command of pending) {
      // A cached actor may be what fails (a stream written elsewhere): each command is tried against
      // a fresh hydration.
      this.deps.actors.delete(command.streamId)
      try {
        await tryOne(command)
      } catch (error) {
        if (error instanceof FencedError || isDatabaseUnavailable(error)) throw error
        await this.failedAttempt(command.commandId, command.streamId, error)
        return
      }
    }
  }

  /** Counts a failed attempt at a command; at `maxAttempts` its stream is parked. */
  async failedAttempt(commandId: string, streamId: string, error: unknown): Promise<void> {
    this.deps.actors.delete(streamId)
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    try {
      const attempts = await this.deps.store.inbox.recordFailure(commandId, message)
      this.deps.log.error({ err: error, commandId, streamId, attempts }, 'command failed')
      if (attempts >= this.options.maxAttempts) {
        await this.deps.store.parking.park(streamId, commandId, message, attempts, this.deps.clock())
        this.deps.log.error({ commandId, streamId, attempts }, 'stream parked: its command keeps failing')
        this.deps.onParked?.({ commandId, streamId }, message)
      }
    } catch (bookkeeping) {
      this.deps.log.error({ err: bookkeeping }, 'could not record the failed attempt')
    }
  }
}
