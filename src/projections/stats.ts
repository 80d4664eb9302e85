import type { StoredEvent } from '../store/event-store.js'
import { stateAfterEvent, type EventType } from '../../machines/shipment/index.js'
import type { Projection } from './projection.js'

/**
 * The read model of the process map: one `transitions` row per event — from which state to which,
 * when, and (when it left a state) since when the shipment had been in it — maintained in the same
 * transaction as the events and rebuilt with the others. Traffic per edge and dwell times per state,
 * in any time window, are read from it; stays still going are the `shipments` rows themselves
 * (`state`, `state_entered_at`: stuck shipments).
 *
 * Pure like every projection: the write follows from the event. The state it left comes from the
 * event's metadata (`fromState`, recorded by the worker that decided it) or else from the `shipments`
 * read model, which is why this projection runs before that one updates it (order in storage.ts).
 */
export const statsProjection: Projection<'transition'> = {
  name: 'stats',
  tables: ['transitions'],
  migrations: [
    {
      id: 'projections/2-stats',
      sql: `
        CREATE TABLE transitions (
          position   INTEGER PRIMARY KEY,
          stream_id  TEXT    NOT NULL,
          from_state TEXT    NOT NULL,
          to_state   TEXT    NOT NULL,
          event      TEXT    NOT NULL,
          at         INTEGER NOT NULL,
          -- when the shipment had entered from_state, if this event made it leave (dwell = at - from_since)
          from_since INTEGER
        );
        CREATE INDEX transitions_at ON transitions (at);
      `,
    },
  ],
  statements: {
    transition: `INSERT INTO transitions (position, stream_id, from_state, to_state, event, at, from_since)
      SELECT @position, @id, coalesce(@from, s.state, 'unregistered'), @state, @event, @at,
             CASE WHEN s.state <> @state THEN s.state_entered_at END
      FROM (SELECT 1) LEFT JOIN shipments s ON s.shipment_id = @id`,
  },
  project(event: StoredEvent) {
    const from = typeof event.metadata.fromState === 'string' ? event.metadata.fromState : null
    const params = { id: event.streamId, from, state: stateAfterEvent[event.type as EventType], event: event.type, at: event.recordedAt, position: event.position }
    return [{ statement: 'transition', params }]
  },
}
