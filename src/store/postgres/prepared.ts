import { createHash } from 'node:crypto'
import type pg from 'pg'

/** What the decision cycle's operations send their statements through. */
export interface CycleClient {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: readonly unknown[]): Promise<pg.QueryResult<R>>
}

const names = new Map<string, string>()

/**
 * `client` with every statement sent as a named (prepared) one, named after its text: PostgreSQL
 * parses and analyses it once per connection and then binds it (keeping a generic plan where that
 * costs no more than planning each call), where an unnamed statement is parsed, analysed and planned
 * on every call. For the decision cycle's statements, whose texts are fixed (the cycle's SQL and the
 * projections'), never for texts built per call: a name stays prepared on its connection until the
 * connection closes, and a connection whose statements are lost is dropped (executor.ts,
 * `isPreparedStatementLost`). The same text is one name on every connection (node-postgres refuses
 * a name reused for another text).
 */
export function preparing(client: pg.PoolClient): CycleClient {
  return {
    query<R extends pg.QueryResultRow>(text: string, values: readonly unknown[]) {
      let name = names.get(text)
      if (name === undefined) {
        name = `waybill_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`
        names.set(text, name)
      }
      return client.query<R>({ name, text, values: values as unknown[] })
    },
  }
}
