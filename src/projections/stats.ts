import type { StoredEvent } from '../store/event-store.js'
import { stateAfterEvent, type EventType } from '../../machines/shipment/index.js'
import type { Projection } from './projection.js'

/**
 * Read models for the process map, maintained in the same transaction as the events and rebuilt with
 * the others. Pure like every projection: the writes follow from the event alone (the SQL reads the
 * shipment's open visit to know where it came from).
 *
 * - `transitions`: one row per event: from which state to which, when (counts per edge, windows).
 * - `state_visits`: each stay of a shipment in a state, open until it leaves (dwell times, stuck).
 */
export const statsProjection: Projection<'transition' | 'leave' | 'enter'> = {
  name: 'stats',
  tables: ['transitions', 'state_visits'],
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
          at         INTEGER NOT NULL
        );
        CREATE INDEX transitions_at ON transitions (at);
        CREATE TABLE state_visits (
          stream_id  TEXT    NOT NULL,
          state      TEXT    NOT NULL,
          entered_at INTEGER NOT NULL,
          left_at    INTEGER
        );
        CREATE INDEX state_visits_open ON state_visits (stream_id) WHERE left_at IS NULL;
        CREATE INDEX state_visits_closed ON state_visits (state, left_at) WHERE left_at IS NOT NULL;
        CREATE INDEX state_visits_since ON state_visits (state, entered_at) WHERE left_at IS NULL;
      `,
    },
  ],
  statements: {
    transition: `INSERT INTO transitions (position, stream_id, from_state, to_state, event, at)
      VALUES (@position, @id, coalesce((SELECT state FROM state_visits WHERE stream_id = @id AND left_at IS NULL), 'unregistered'), @state, @event, @at)`,
    leave: `UPDATE state_visits SET left_at = @at WHERE stream_id = @id AND left_at IS NULL AND state <> @state`,
    enter: `INSERT INTO state_visits (stream_id, state, entered_at, left_at) SELECT @id, @state, @at, NULL
      WHERE NOT EXISTS (SELECT 1 FROM state_visits WHERE stream_id = @id AND left_at IS NULL)`,
  },
  project(event: StoredEvent) {
    const params = { id: event.streamId, state: stateAfterEvent[event.type as EventType], event: event.type, at: event.recordedAt, position: event.position }
    return [
      { statement: 'transition', params },
      { statement: 'leave', params },
      { statement: 'enter', params },
    ]
  },
}
