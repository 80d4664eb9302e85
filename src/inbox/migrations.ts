import type { Migration } from '../store/database.js'

/**
 * commands: the durable inbox and, in the same row, the command's outcome.
 * `seq` is arrival order (commit order of the intake); `command_id` is unique, so a redelivered or
 * retried command is never inserted twice (ids are UUIDv7, so that index grows at its end);
 * (device_id, idempotency_key) is unique where a key was sent, so a client key is scoped to the
 * device that sent it. `status` moves once, pending → accepted | rejected, in the same
 * transaction that appends the command's event (exactly-once effect).
 */
export const inboxMigrations: readonly Migration[] = [
  {
    id: 'inbox/1-commands',
    sql: `
      CREATE TABLE commands (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        command_id      TEXT    NOT NULL UNIQUE,
        stream_id       TEXT    NOT NULL,
        partition       INTEGER NOT NULL,
        type            TEXT    NOT NULL,
        payload         TEXT    NOT NULL,
        metadata        TEXT    NOT NULL,
        device_id       TEXT    NOT NULL,
        idempotency_key TEXT,
        request_hash    TEXT,
        received_at     INTEGER NOT NULL,
        status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
        reason          TEXT,
        detail          TEXT,
        stream_version  INTEGER,
        event_position  INTEGER REFERENCES events (position),
        decided_at      INTEGER,
        attempts        INTEGER NOT NULL DEFAULT 0
      );
      CREATE UNIQUE INDEX commands_idempotency ON commands (device_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
      CREATE INDEX commands_pending ON commands (seq) WHERE status = 'pending';
      CREATE INDEX commands_stream ON commands (stream_id, seq);
      CREATE TRIGGER commands_decided_once BEFORE UPDATE OF status ON commands
        WHEN OLD.status <> 'pending'
        BEGIN SELECT RAISE(ABORT, 'commands: an outcome is final'); END;
    `,
  },
  {
    id: 'inbox/2-parking',
    sql: `
      ALTER TABLE commands ADD COLUMN last_error TEXT;
      -- A parked shipment: its oldest pending command kept failing for an infrastructure reason.
      -- Its commands wait (in order) until an admin retries or discards that command; other
      -- shipments keep flowing.
      CREATE TABLE parked (
        stream_id  TEXT    PRIMARY KEY,
        command_id TEXT    NOT NULL REFERENCES commands (command_id),
        error      TEXT    NOT NULL,
        attempts   INTEGER NOT NULL,
        parked_at  INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    id: 'inbox/3-decided-state',
    sql: `
      -- The machine state a command was decided in (before its transition): rejections per
      -- (state, command) for the process map.
      ALTER TABLE commands ADD COLUMN decided_state TEXT;
      CREATE INDEX commands_rejected ON commands (decided_at) WHERE status = 'rejected';
    `,
  },
]
