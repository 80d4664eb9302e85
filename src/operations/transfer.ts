import { idOfStream, kindOfStream } from '../../machines/kinds.js'
import { identifierPattern } from '../commands/schemas.js'
import { findUncleanText } from '../commands/validation.js'
import { applyEvent, emptyActor, fromStoredSnapshot, replayActor, snapshotSchemas, toStoredSnapshot, type Actor } from '../projections/actors.js'
import type { Store } from '../store/store.js'
import type { StoredEvent } from '../store/types.js'

/**
 * `events export` / `events import`: the log as NDJSON, one event per line in position order, with
 * everything an event has (stream, version, type, data, metadata, recordedAt). Import appends each
 * event with its expected version and applies it through its kind's machine (an impossible history is
 * refused) and to the read models, in batched transactions: what comes out is a log that `verify`
 * accepts and aggregates identical to the source — on SQLite or PostgreSQL, whichever the importing
 * installation runs (the documented way to move a depot from SQLite to PostgreSQL).
 */
export type ExportedEvent = Omit<StoredEvent, 'recordedAt'> & { readonly recordedAt: string }

export async function* exportEvents(store: Store, after = 0): AsyncGenerator<string> {
  for await (const event of store.events.iterate(after)) {
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

const identifier = new RegExp(identifierPattern)

/** A line as an event, refused with its line number when it is not one (or holds text the API would refuse). */
function parse(line: string, number: number): ExportedEvent {
  let value: Partial<ExportedEvent>
  try {
    value = JSON.parse(line) as Partial<ExportedEvent>
  } catch {
    throw new ImportError(`line ${number}: not JSON`)
  }
  const ok =
    typeof value.streamId === 'string' && Number.isSafeInteger(value.version) && (value.version ?? 0) >= 1 && typeof value.type === 'string' &&
    typeof value.metadata === 'object' && value.metadata !== null && typeof value.recordedAt === 'string' && Number.isFinite(Date.parse(value.recordedAt))
  if (!ok) throw new ImportError(`line ${number}: not an exported event`)
  // The same rules as for what enters through the API: an id a client could not name, a lone
  // surrogate or NUL would be kept in the log and break `verify` and `backup` from then on.
  if (!identifier.test(idOfStream(value.streamId!))) throw new ImportError(`line ${number}: ${JSON.stringify(value.streamId)} is not a valid id`)
  const unclean = findUncleanText(value)
  if (unclean !== null) throw new ImportError(`line ${number}: ${unclean} is not well-formed Unicode text (a lone surrogate or NUL)`)
  return value as ExportedEvent
}

export async function importEvents(
  store: Store,
  lines: AsyncIterable<string>,
  options: { snapshotEvery: number; batch?: number; onProgress?: (imported: number) => void },
): Promise<number> {
  /** Each stream as the import has left it (committed, or in the batch being built). */
  const actors = new Map<string, Actor>()
  const committed = new Map<string, Actor>()
  const actorOf = async (streamId: string): Promise<Actor> => {
    const known = actors.get(streamId)
    if (known) return known
    const kind = kindOfStream(streamId)
    const stored = await store.events.loadSnapshot(streamId, snapshotSchemas(kind))
    const base = stored ? fromStoredSnapshot(kind, stored) : emptyActor(kind)
    const actor = replayActor(await store.events.readStream(streamId, base.version), base)
    actors.set(streamId, actor)
    committed.set(streamId, actor)
    return actor
  }
  let imported = 0
  let number = 0
  let pending: StoredEvent[] = []
  let snapshots: Array<{ streamId: string; snapshot: ReturnType<typeof toStoredSnapshot> }> = []
  const flush = async () => {
    try {
      await store.importEvents(pending, snapshots)
    } catch (error) {
      // The batch was rolled back: the streams are as they were committed.
      for (const [id, actor] of committed) actors.set(id, actor)
      throw error
    }
    for (const [id, actor] of actors) committed.set(id, actor)
    imported += pending.length
    pending = []
    snapshots = []
    options.onProgress?.(imported)
  }
  for await (const line of lines) {
    number++
    if (!line.trim()) continue
    const event = parse(line, number)
    const actor = await actorOf(event.streamId)
    if (event.version !== actor.version + 1) throw new ImportError(`line ${number}: ${event.streamId} version ${event.version} does not follow ${actor.version}`)
    const stored: StoredEvent = { position: 0, streamId: event.streamId, version: event.version, type: event.type, data: event.data, metadata: event.metadata, recordedAt: Date.parse(event.recordedAt) }
    let next: Actor
    try {
      next = applyEvent(actor, stored)
    } catch (error) {
      throw new ImportError(`line ${number}: ${(error as Error).message}`)
    }
    actors.set(event.streamId, next)
    pending.push(stored)
    if (next.version % options.snapshotEvery === 0) snapshots.push({ streamId: event.streamId, snapshot: toStoredSnapshot(next) })
    if (pending.length >= (options.batch ?? 5000)) await flush()
  }
  if (pending.length) await flush()
  return imported
}
