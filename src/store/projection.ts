import type { Migration } from './sql.js'
import type { StoredEvent } from './types.js'

/**
 * A projection is pure: `project(event)` returns the writes (named statements and their parameters)
 * an event causes, computed from the event alone — no clock, no reads; a statement may read only the
 * projection's own tables (what it wrote for earlier events), never another projection's — so a
 * rebuild from the log is byte-identical. The store prepares the statements once and applies the
 * writes inside the transaction that appends the events (both adapters run the same statements:
 * written in the SQL both dialects share, with `@name` parameters).
 */
export interface ProjectionWrite<K extends string = string> {
  readonly statement: K
  readonly params: Readonly<Record<string, string | number | null>>
}

export interface Projection<K extends string = string> {
  readonly name: string
  readonly migrations: readonly Migration[]
  /** Tables a rebuild empties before replaying the log. */
  readonly tables: readonly string[]
  readonly statements: Readonly<Record<K, string>>
  project(event: StoredEvent): readonly ProjectionWrite<K>[]
}
