import type { Storage } from '../storage.js'
import { ActorCache, applyEvent, toStoredSnapshot } from '../worker/actor.js'
import type { StoredEvent } from '../store/event-store.js'

/**
 * `events export` / `events import`: the log as NDJSON, one event per line in position order, with
 * everything an event has (stream, version, type, data, metadata, recordedAt). Import appends each
 * event with its expected version and applies it through the machine (an impossible history is
 * refused) and to the read models, in batched transactions: what comes out is a log that `verify`
 * accepts and shipments identical to the source.
 */
export interface ExportedEvent {
  readonly position: number
  readonly streamId: string
  readonly version: number
  readonly type: string
  readonly data: unknown
  readonly metadata: Readonly<Record<string, unknown>>
  readonly recordedAt: string
}

export function* exportEvents(storage: Storage, after = 0): Generator<string> {
  for (const event of storage.store.iterate(after)) {
    const line: ExportedEvent = {
      position: event.position, streamId: event.streamId, version: event.version, type: event.type,
      data: event.data, metadata: event.metadata, recordedAt: new Date(event.recordedAt).toISOString(),
    }
    yield JSON.stringify(line)
  }
}

export class ImportError extends Error {
  override readonly name = 'ImportError'
}

function parse(line: string, number: number): ExportedEvent {
  let value: Partial<ExportedEvent>
  try {
    value = JSON.parse(line) as Partial<ExportedEvent>
  } catch {
    throw new ImportError(`line ${number}: not JSON`)
  }
  const ok =
    typeof value.streamId === 'string' && Number.isSafeInteger(value.version) && typeof value.type === 'string' &&
    typeof value.metadata === 'object' && value.metadata !== null && typeof value.recordedAt === 'string' && !Number.isNaN(Date.parse(value.recordedAt))
  if (!ok) throw new ImportError(`line ${number}: not an exported event`)
  return value as ExportedEvent
}

export async function importEvents(
  storage: Storage,
  lines: AsyncIterable<string>,
  options: { snapshotEvery: number; batch?: number; onProgress?: (imported: number) => void },
): Promise<number> {
  const { store, projector, db } = storage
  const actors = new ActorCache(store, { size: 10_000 })
  const write = db.transaction((events: Array<{ event: ExportedEvent; number: number }>) => {
    for (const { event, number } of events) {
      const actor = actors.get(event.streamId, 0)
      if (event.version !== actor.version + 1) throw new ImportError(`line ${number}: ${event.streamId} version ${event.version} does not follow ${actor.version}`)
      const [stored] = store.append(event.streamId, actor.version, [{ type: event.type, data: event.data, metadata: event.metadata }], Date.parse(event.recordedAt)) as [StoredEvent]
      let next
      try {
        next = applyEvent(actor, stored)
      } catch (error) {
        throw new ImportError(`line ${number}: ${(error as Error).message}`)
      }
      projector.apply([stored])
      if (next.version % options.snapshotEvery === 0) store.saveSnapshot(event.streamId, toStoredSnapshot(next))
      actors.set(event.streamId, next, 0)
    }
  })
  let imported = 0
  let number = 0
  let pending: Array<{ event: ExportedEvent; number: number }> = []
  const flush = () => {
    try {
      write.immediate(pending)
    } catch (error) {
      actors.clear()
      throw error
    }
    imported += pending.length
    pending = []
    options.onProgress?.(imported)
  }
  for await (const line of lines) {
    number++
    if (!line.trim()) continue
    pending.push({ event: parse(line, number), number })
    if (pending.length >= (options.batch ?? 5000)) flush()
  }
  if (pending.length) flush()
  return imported
}
