import { randomUUID } from 'node:crypto'
import { GroupCommit } from '../../src/commands/group-commit.js'
import { ActorCache, type HydrationSource } from '../../src/decisions/actor-cache.js'
import type { DecidedCommand } from '../../src/decisions/cycle.js'
import { DrainLoop } from '../../src/decisions/drain.js'
import { Quarantine } from '../../src/decisions/quarantine.js'
import type { Faults } from '../../src/faults.js'
import type { CommandReport } from '../../src/projections/report.js'
import type { Store } from '../../src/store/store.js'
import type { CommandPayload, InboxCommand, NewCommand } from '../../src/store/types.js'

/**
 * The decision core of one process without Redis or HTTP: a drain loop with its group commit and
 * quarantine on a real store. Partitions are granted by hand (`claim`) and drained by `worker.kick()`.
 */
export interface LocalLoop {
  readonly worker: DrainLoop
  readonly intake: GroupCommit
  readonly actors: ActorCache
  readonly hydrations: HydrationSource[]
  readonly reports: CommandReport[]
  readonly fenced: number[]
  readonly errors: unknown[]
  /** Commits a command to the inbox on its own (not decided until a kick). */
  submit(streamId: string, payload: CommandPayload, partition?: number): Promise<InboxCommand>
  /** Claims partition 0 (or `partition`) for this loop under a new epoch. */
  claim(owner?: string, partition?: number): Promise<number>
  /** The clock the loop reads (advanced by one per read; settable). */
  readonly clock: { now: number }
}

export function command(streamId: string, payload: CommandPayload, overrides: Partial<NewCommand> = {}): NewCommand {
  return { commandId: randomUUID(), streamId, partition: 0, payload, metadata: { deviceId: 'd1' }, idempotencyKey: null, requestHash: null, receivedAt: 1, ...overrides }
}

export function localLoop(
  store: Store,
  options: { batchMax?: number; snapshotEvery?: number; faults?: Faults; maxIntake?: number; partitions?: number; clock?: { now: number; tick?: boolean }; lingerMs?: number } = {},
): LocalLoop {
  const hydrations: HydrationSource[] = []
  const reports: CommandReport[] = []
  const fenced: number[] = []
  const errors: unknown[] = []
  const clock = options.clock ?? { now: 1_000_000, tick: true }
  const now = () => (clock.tick === false ? clock.now : ++clock.now)
  const actors = new ActorCache({ size: 100, onHydrate: (s) => hydrations.push(s) })
  const intake = new GroupCommit({ maxIntake: options.maxIntake, clock: now })
  const log = { warn: () => {}, error: (obj: object) => void errors.push(obj) }
  const worker = new DrainLoop(
    {
      store, intake, actors, clock: now, log, ...(options.faults ? { faults: options.faults } : {}),
      quarantine: new Quarantine({ store, actors, clock: now, log }, { maxAttempts: 3, batchMax: options.batchMax ?? 256 }),
      onDecided: (decided: readonly DecidedCommand[]) => reports.push(...decided.map((d) => d.report)),
      onFenced: (p) => fenced.push(p),
    },
    { partitions: options.partitions ?? 1, batchMax: options.batchMax ?? 256, snapshotEvery: options.snapshotEvery ?? 16, lingerMs: options.lingerMs ?? 0, intakeWaitMs: 2000 },
  )
  return {
    worker, intake, actors, hydrations, reports, fenced, errors, clock,
    submit: async (streamId, payload, partition = 0) => (await store.submit([command(streamId, payload, { partition, receivedAt: clock.now })]))[0]!.command!,
    claim: async (owner = 'me', partition = 0) => {
      const epoch = await store.epochs.claim(partition, owner, clock.now)
      worker.grant(partition, epoch)
      return epoch
    },
  }
}
