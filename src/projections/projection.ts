import type { Statement } from 'better-sqlite3'
import type { Db, Migration } from '../store/database.js'
import type { StoredEvent } from '../store/event-store.js'

/**
 * A projection is pure: `project(event)` returns the writes (named statements and their parameters)
 * an event causes, computed from the event alone — no clock, no reads — so a rebuild from the log is
 * byte-identical. The runner prepares the statements once and applies the writes inside the caller's
 * transaction (the same one that appends the events).
 */
export interface Write<K extends string = string> {
  readonly statement: K
  readonly params: Readonly<Record<string, string | number | null>>
}

export interface Projection<K extends string = string> {
  readonly name: string
  readonly migrations: readonly Migration[]
  /** Tables a rebuild empties before replaying the log. */
  readonly tables: readonly string[]
  readonly statements: Readonly<Record<K, string>>
  project(event: StoredEvent): readonly Write<K>[]
}

export class Projector {
  readonly #prepared: Array<{ projection: Projection; statements: Map<string, Statement> }>

  constructor(
    private readonly db: Db,
    readonly projections: readonly Projection[],
  ) {
    this.#prepared = projections.map((projection) => ({
      projection,
      statements: new Map(Object.entries(projection.statements).map(([key, sql]) => [key, db.prepare(sql as string)])),
    }))
  }

  /** Applies the events to every projection. Call inside the write transaction that appended them. */
  apply(events: readonly StoredEvent[]): void {
    for (const event of events) {
      for (const { projection, statements } of this.#prepared) {
        for (const write of projection.project(event)) statements.get(write.statement)!.run(write.params)
      }
    }
  }

  /**
   * Empties every projection table and replays `events` into them, in ONE transaction: readers see the
   * old read model until the new one is complete, and the worker's inline updates wait (busy timeout,
   * then retry in place) instead of landing in a half-built table.
   */
  rebuild(events: Iterable<StoredEvent>, onProgress?: (applied: number) => void): number {
    const run = this.db.transaction(() => {
      for (const { projection } of this.#prepared) for (const table of projection.tables) this.db.exec(`DELETE FROM ${table}`)
      let applied = 0
      for (const event of events) {
        this.apply([event])
        if (++applied % 10000 === 0) onProgress?.(applied)
      }
      onProgress?.(applied)
      return applied
    })
    return run.immediate()
  }
}
