import { shipmentKind, type ShipmentCommand, type ShipmentSnapshot } from '../../machines/shipment/index.js'
import { newCommandId } from '../../src/commands/ids.js'
import { fingerprintHash } from '../../src/commands/intake.js'
import { applyEvent, emptyActor, toStoredSnapshot, type Actor } from '../../src/projections/actors.js'
import { partitionOf } from '../../src/queue/partitions.js'
import type { Storage } from '../../src/storage.js'
import type { SqliteStore } from '../../src/store/sqlite/store.js'

/**
 * Writes `id`'s history the way the decision cycle does, in big transactions: each command in the
 * inbox, decided through the pure machine, its event appended, the read models updated, a checkpoint
 * every `snapshotEvery` events, the outcome recorded. The idempotency key `key-<version>` marks each
 * command; the command that made version v is REGISTER (v = 1), else ASSIGN to T2 for an even v, T1 for
 * an odd one (the issue's attack: reassigning for ever). The shipment is never in a worker's cache.
 * SQLite only (a setup for the bounded-cost tests).
 */
export async function writeHistory(storage: Storage, id: string, length: number, options: { start: number; snapshotEvery: number; partitions?: number }): Promise<void> {
  const { start, snapshotEvery, partitions = 8 } = options
  const store = storage.store as SqliteStore
  let actor: Actor<ShipmentSnapshot> = emptyActor(shipmentKind)
  const write = (count: number) => {
    for (let i = 0; i < count; i++) {
      const version = actor.version
      const payload: ShipmentCommand = version === 0 ? { type: 'REGISTER' } : { type: 'ASSIGN', truckId: version % 2 === 0 ? 'T1' : 'T2' }
      const recordedAt = start + version * 1000
      const commandId = newCommandId(recordedAt)
      const [submitted] = store.ops.insert([
        {
          commandId, streamId: id, partition: partitionOf(id, partitions), payload, metadata: { deviceId: 'bootstrap' },
          idempotencyKey: `key-${version + 1}`, requestHash: fingerprintHash([id, payload]), receivedAt: recordedAt,
        },
      ])
      const decision = shipmentKind.decide(actor.snapshot, payload)
      if (decision.outcome !== 'accepted') throw new Error(`setup: ${payload.type} rejected at ${version}`)
      const from = shipmentKind.stateOf(actor.snapshot)
      const metadata = { commandId, deviceId: 'bootstrap', machineVersion: 'setup', fromState: from }
      const [event] = store.ops.write({
        appends: [{ streamId: id, expectedVersion: version, events: [{ type: decision.event.type, data: decision.event.data, metadata }], recordedAt }],
        outcomes: [
          {
            seq: submitted!.command!.seq,
            commandId,
            outcome: { status: 'accepted', decidedState: from, reason: null, detail: null, streamVersion: version + 1, decidedAt: recordedAt },
            event: { streamId: id, version: version + 1 },
          },
        ],
        snapshots: [],
        waits: [],
      })
      actor = applyEvent(actor, event!)
      if (actor.version % snapshotEvery === 0) store.ops.write({ appends: [], outcomes: [], snapshots: [{ streamId: id, snapshot: toStoredSnapshot(actor) }], waits: [] })
    }
  }
  while (actor.version < length) await store.sql.writeSync(() => write(Math.min(5000, length - actor.version)))
}
