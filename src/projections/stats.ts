import { commandFromEvent, stateAfterEvent, type ShipmentEvent } from '../../machines/shipment/index.js'
import type { Projection } from '../store/projection.js'
import type { StoredEvent } from '../store/types.js'

/**
 * The read model of the process map: one `transitions` row per event — from which state to which,
 * when, and (when it left a state) since when the shipment had been in it — maintained in the same
 * transaction as the events and rebuilt with the others. Traffic per edge and dwell times per state,
 * in any time window, are read from it; stays still going are the `shipments` rows themselves
 * (`state`, `state_entered_at`: stuck shipments).
 *
 * Pure like every projection: its writes follow from the event and from what this projection itself
 * wrote for the events before (`stats_stays`: each shipment's current state and since when), never
 * from another projection's tables or the event's metadata, so it is the same fold over the log in
 * any order of projections, live or rebuilt, for events imported from elsewhere too.
 */
export const statsProjection: Projection<'transition' | 'stay'> = {
  name: 'stats',
  tables: ['transitions', 'stats_stays'],
  migrations: [
    {
      id: 'projections/2-stats',
      sqlite: `
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
      postgres: `
        CREATE TABLE transitions (
          position   BIGINT  PRIMARY KEY,
          stream_id  TEXT    NOT NULL,
          from_state TEXT    NOT NULL,
          to_state   TEXT    NOT NULL,
          event      TEXT    NOT NULL,
          at         BIGINT  NOT NULL,
          from_since BIGINT
        );
        CREATE INDEX transitions_at ON transitions (at);
      `,
    },
    {
      id: 'projections/3-stats-stays',
      sqlite: `
        -- The stay each shipment is in (its state since when), kept by this projection for the next
        -- event's from_state and from_since. Filled from the transitions already recorded.
        CREATE TABLE stats_stays (
          stream_id TEXT    PRIMARY KEY,
          state     TEXT    NOT NULL,
          since     INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO stats_stays (stream_id, state, since)
          SELECT t.stream_id, t.to_state,
                 (SELECT max(x.at) FROM transitions x WHERE x.stream_id = t.stream_id AND x.from_state <> x.to_state)
          FROM transitions t
          WHERE t.position = (SELECT max(y.position) FROM transitions y WHERE y.stream_id = t.stream_id);
      `,
      postgres: `
        CREATE TABLE stats_stays (
          stream_id TEXT    PRIMARY KEY,
          state     TEXT    NOT NULL,
          since     BIGINT  NOT NULL
        );
      `,
    },
    {
      // The command a transition took: with trucks, ShipmentShipped is a scanner's SHIP or its truck's
      // departure (DEPART_SHIP), two edges of the chart. Before trucks every event had one command.
      id: 'projections/5-transition-command',
      sqlite: `
        ALTER TABLE transitions ADD COLUMN command TEXT;
        UPDATE transitions SET command = CASE event
          WHEN 'ShipmentRegistered' THEN 'REGISTER' WHEN 'TruckAssigned' THEN 'ASSIGN' WHEN 'TruckUnassigned' THEN 'UNASSIGN'
          WHEN 'ShipmentShipped' THEN 'SHIP' WHEN 'ShipmentDelivered' THEN 'DELIVER' WHEN 'ShipmentCancelled' THEN 'CANCEL' END;
      `,
      postgres: `ALTER TABLE transitions ADD COLUMN command TEXT;`,
    },
  ],
  statements: {
    // Parameters in a SELECT list are cast: PostgreSQL does not infer their types from the target columns.
    transition: `INSERT INTO transitions (position, stream_id, from_state, to_state, event, command, at, from_since)
      SELECT CAST(@position AS BIGINT), CAST(@id AS TEXT), coalesce(s.state, 'unregistered'), CAST(@state AS TEXT), CAST(@event AS TEXT), CAST(@command AS TEXT), CAST(@at AS BIGINT),
             CASE WHEN s.state <> CAST(@state AS TEXT) THEN s.since END
      FROM (SELECT 1 AS one) AS o LEFT JOIN stats_stays s ON s.stream_id = CAST(@id AS TEXT)`,
    stay: `INSERT INTO stats_stays (stream_id, state, since) VALUES (@id, @state, @at)
      ON CONFLICT (stream_id) DO UPDATE SET
        since = CASE WHEN stats_stays.state = excluded.state THEN stats_stays.since ELSE excluded.since END,
        state = excluded.state`,
  },
  project(stored: StoredEvent) {
    // Shipments only (a truck's stream has a prefix, a shipment's none).
    if (stored.streamId.includes(':')) return []
    const event = { type: stored.type, data: stored.data } as ShipmentEvent
    const params = { id: stored.streamId, state: stateAfterEvent[event.type], event: event.type, command: commandFromEvent(event).type, at: stored.recordedAt, position: stored.position }
    return [
      { statement: 'transition', params },
      { statement: 'stay', params: { id: params.id, state: params.state, at: params.at } },
    ]
  },
}
