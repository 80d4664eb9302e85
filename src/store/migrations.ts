import type { Migration } from './database.js'

/**
 * events: global `position` (commit order, no reuse); (stream_id, version) unique — the expected-version
 * append; a trigger rejects a version that is not exactly max+1, so every stream is 1..n without gaps.
 * Append-only: triggers reject UPDATE and DELETE.
 * snapshots: one per stream, stamped with the `schema` (machine version) that produced it.
 * partitions: the fencing epoch per partition, bumped by each new owner, checked in every write.
 */
export const storeMigrations: readonly Migration[] = [
  {
    id: 'store/1-events',
    sql: `
      CREATE TABLE events (
        position    INTEGER PRIMARY KEY AUTOINCREMENT,
        stream_id   TEXT    NOT NULL,
        version     INTEGER NOT NULL CHECK (version >= 1),
        type        TEXT    NOT NULL,
        data        TEXT    NOT NULL CHECK (json_valid(data)),
        metadata    TEXT    NOT NULL CHECK (json_valid(metadata)),
        recorded_at INTEGER NOT NULL,
        UNIQUE (stream_id, version)
      );
      CREATE TRIGGER events_no_gap BEFORE INSERT ON events
        WHEN NEW.version <> 1 + coalesce((SELECT max(version) FROM events WHERE stream_id = NEW.stream_id), 0)
        BEGIN SELECT RAISE(ABORT, 'events: version must follow the stream''s last version'); END;
      CREATE TRIGGER events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
      CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

      CREATE TABLE snapshots (
        stream_id  TEXT    PRIMARY KEY,
        version    INTEGER NOT NULL,
        schema     TEXT    NOT NULL,
        state      TEXT    NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE partitions (
        partition   INTEGER PRIMARY KEY,
        epoch       INTEGER NOT NULL DEFAULT 0,
        owner       TEXT,
        acquired_at INTEGER
      );
    `,
  },
]
