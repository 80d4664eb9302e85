import type { Projection } from './projection.js'
import type { Migration } from './sql.js'

/**
 * The store's own tables, in both dialects.
 *
 * events: global `position` (commit order, never reused); (stream_id, version) unique — the
 *   expected-version append; a trigger rejects a version that is not exactly max+1, so every stream is
 *   1..n without gaps. Append-only: triggers reject UPDATE and DELETE.
 * snapshots: checkpoints of a stream (every N events), each stamped with the `schema` (kind and
 *   machine version) that produced it; all kept, so any past version is a checkpoint plus < N events.
 * partitions: the fencing epoch per partition, bumped by each new owner, checked in every write.
 * installation: the id that names the Redis key namespace, the partition count, the feed's generation.
 * feed_gaps: where a restored copy's positions left the original's timeline.
 * commands: the durable inbox and, in the same row, the command's outcome. `seq` is arrival order
 *   (commit order); `command_id` is unique (a redelivered or retried command is never inserted twice;
 *   a message between actors has an id derived from its cause, so it is sent once); (device_id,
 *   idempotency_key) is unique where a key was sent. `status` moves once, pending → accepted |
 *   rejected, in the transaction that appends the command's event (exactly-once effect).
 * parked: a stream whose oldest pending command kept failing for an infrastructure reason.
 * tokens: device tokens (SHA-256 of the secret only).
 * waits: a stream whose saga waits for another actor's answer (its command, and the saga's step).
 * device_refusals, commands.device_seq, device_sync: offline batches — each (device, seq) names one
 *   item, a command or a refusal of a malformed one; a summary of each device's numbering (its gaps up to a seq).
 *
 * The SQLite migrations are the ones every embedded depot has applied since its first start: never
 * edited, only added to. PostgreSQL installations start from one consolidated schema.
 */
const sqlite = (id: string, sql: string): Migration => ({ id, sqlite: sql, postgres: null })
const postgres = (id: string, sql: string): Migration => ({ id, sqlite: null, postgres: sql })

export const storeMigrations: readonly Migration[] = [
  sqlite(
    'store/1-events',
    `
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
  ),
  sqlite(
    // Bounded history reads: every checkpoint is kept, found by (stream, schema, version ≤ n) in one
    // index seek; `?at=` finds its version in one seek of (stream, recorded_at).
    'store/2-checkpoints',
    `
      CREATE TABLE snapshots_kept (
        stream_id  TEXT    NOT NULL,
        schema     TEXT    NOT NULL,
        version    INTEGER NOT NULL,
        state      TEXT    NOT NULL,
        PRIMARY KEY (stream_id, schema, version)
      ) WITHOUT ROWID;
      INSERT INTO snapshots_kept (stream_id, schema, version, state) SELECT stream_id, schema, version, state FROM snapshots;
      DROP TABLE snapshots;
      ALTER TABLE snapshots_kept RENAME TO snapshots;
      CREATE INDEX snapshots_newest ON snapshots (stream_id, version);
      CREATE INDEX events_stream_time ON events (stream_id, recorded_at, version);
    `,
  ),
  sqlite(
    'store/2-installation',
    `
      CREATE TABLE installation (
        singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
        id          TEXT    NOT NULL,
        generation  TEXT    NOT NULL,
        partitions  INTEGER,
        -- set in a backup copy: its first start as a service begins a new generation
        renew_generation INTEGER NOT NULL DEFAULT 0,
        created_at  INTEGER NOT NULL
      ) STRICT;
      INSERT INTO installation (singleton, id, generation, created_at)
        VALUES (1, lower(hex(randomblob(6))), lower(hex(randomblob(4))), CAST(unixepoch('subsec') * 1000 AS INTEGER));
    `,
  ),
  sqlite(
    // Where a restored copy's feed left the original's timeline: positions after after_position and
    // before resumes_at were (or may have been) handed out by the original and never will be here.
    'store/3-feed-gaps',
    `
      CREATE TABLE feed_gaps (
        after_position INTEGER PRIMARY KEY,
        resumes_at     INTEGER NOT NULL,
        generation     TEXT    NOT NULL,
        created_at     INTEGER NOT NULL
      ) STRICT;
    `,
  ),
  sqlite(
    'inbox/1-commands',
    `
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
  ),
  sqlite(
    'inbox/2-parking',
    `
      ALTER TABLE commands ADD COLUMN last_error TEXT;
      CREATE TABLE parked (
        stream_id  TEXT    PRIMARY KEY,
        command_id TEXT    NOT NULL REFERENCES commands (command_id),
        error      TEXT    NOT NULL,
        attempts   INTEGER NOT NULL,
        parked_at  INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  ),
  sqlite(
    'inbox/3-decided-state',
    `
      ALTER TABLE commands ADD COLUMN decided_state TEXT;
      CREATE INDEX commands_rejected ON commands (decided_at) WHERE status = 'rejected';
    `,
  ),
  sqlite(
    'auth/1-tokens',
    `
      CREATE TABLE tokens (
        token_id     TEXT    PRIMARY KEY,
        token_hash   TEXT    NOT NULL UNIQUE,
        device_id    TEXT    NOT NULL,
        role         TEXT    NOT NULL CHECK (role IN ('scanner', 'reviewer', 'admin')),
        label        TEXT,
        created_at   INTEGER NOT NULL,
        last_seen_at INTEGER,
        revoked_at   INTEGER
      );
    `,
  ),
  sqlite(
    // Sagas: messages a waiting stream may still decide (`bypass`), and the streams that wait.
    'inbox/4-sagas',
    `
      ALTER TABLE commands ADD COLUMN bypass INTEGER NOT NULL DEFAULT 0;
      CREATE TABLE waits (
        stream_id  TEXT    PRIMARY KEY,
        command_id TEXT    NOT NULL,
        seq        INTEGER NOT NULL,
        state      TEXT    NOT NULL
      ) WITHOUT ROWID;
    `,
  ),
  sqlite(
    // Late scans (a rejection overtaken while the device was offline), and the indexes the process
    // map's per-device and per-window views read (a window is an index range, never the whole inbox).
    'inbox/5-late',
    `
      ALTER TABLE commands ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
      CREATE INDEX commands_decided ON commands (decided_at) WHERE decided_at IS NOT NULL;
      CREATE INDEX commands_device ON commands (device_id, received_at);
    `,
  ),
  sqlite(
    // Offline batches: a device's own numbering of its scans (each seq once per device), the items it
    // sent that were refused as malformed (their seq is taken too), and how far its seqs are known to
    // run without a gap (a watermark that only saves reading from 1; always at most the truth).
    'inbox/6-device-seqs',
    `
      ALTER TABLE commands ADD COLUMN device_seq INTEGER;
      CREATE UNIQUE INDEX commands_device_seq ON commands (device_id, device_seq) WHERE device_seq IS NOT NULL;
      CREATE TABLE device_refusals (
        device_id    TEXT    NOT NULL,
        seq          INTEGER NOT NULL,
        request_hash TEXT    NOT NULL,
        detail       TEXT    NOT NULL,
        received_at  INTEGER NOT NULL,
        PRIMARY KEY (device_id, seq)
      ) WITHOUT ROWID;
      CREATE TABLE device_sync (
        device_id  TEXT    PRIMARY KEY,
        contiguous INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  ),

  sqlite(
    // The numbering's summary (see devices.ts): the gaps below `checked`, so a read looks above it and
    // inside them only. A watermark kept so far is a summary without gaps up to it.
    'inbox/7-device-sync-gaps',
    `
      ALTER TABLE device_sync ADD COLUMN checked INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE device_sync ADD COLUMN gaps TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(gaps));
      UPDATE device_sync SET checked = contiguous;
    `,
  ),
  sqlite(
    // commands_decided (every decided command by time) was read by nothing, and cost a B-tree insert per
    // command; the planner even took it for the windows of rejections, which commands_rejected serves
    // with their rows only.
    'inbox/8-no-decided-index',
    'DROP INDEX IF EXISTS commands_decided;',
  ),

  postgres(
    'pg/1-store',
    `
      CREATE TABLE events (
        position    BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        stream_id   TEXT    NOT NULL,
        version     BIGINT  NOT NULL CHECK (version >= 1),
        type        TEXT    NOT NULL,
        data        TEXT    NOT NULL CHECK (data::json IS NOT NULL),
        metadata    TEXT    NOT NULL CHECK (metadata::json IS NOT NULL),
        recorded_at BIGINT  NOT NULL,
        UNIQUE (stream_id, version)
      );
      CREATE FUNCTION waybill_events_no_gap() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.version <> 1 + coalesce((SELECT max(version) FROM events WHERE stream_id = NEW.stream_id), 0) THEN
          RAISE EXCEPTION 'events: version must follow the stream''s last version' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER events_no_gap BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION waybill_events_no_gap();
      CREATE FUNCTION waybill_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'events are append-only' USING ERRCODE = 'check_violation'; END $$;
      CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events FOR EACH ROW EXECUTE FUNCTION waybill_append_only();
      CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events FOR EACH STATEMENT EXECUTE FUNCTION waybill_append_only();
      CREATE INDEX events_stream_time ON events (stream_id, recorded_at, version);

      CREATE TABLE snapshots (
        stream_id  TEXT    NOT NULL,
        schema     TEXT    NOT NULL,
        version    BIGINT  NOT NULL,
        state      TEXT    NOT NULL,
        PRIMARY KEY (stream_id, schema, version)
      );
      CREATE INDEX snapshots_newest ON snapshots (stream_id, version);

      CREATE TABLE partitions (
        partition   INTEGER PRIMARY KEY,
        epoch       BIGINT  NOT NULL DEFAULT 0,
        owner       TEXT,
        acquired_at BIGINT
      );

      CREATE TABLE installation (
        singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
        id          TEXT    NOT NULL,
        generation  TEXT    NOT NULL,
        partitions  INTEGER,
        renew_generation INTEGER NOT NULL DEFAULT 0,
        created_at  BIGINT  NOT NULL
      );
      INSERT INTO installation (singleton, id, generation, created_at)
        VALUES (1, substr(md5(random()::text || clock_timestamp()::text), 1, 12), substr(md5(random()::text), 1, 8),
                (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
      CREATE TABLE feed_gaps (
        after_position BIGINT PRIMARY KEY,
        resumes_at     BIGINT NOT NULL,
        generation     TEXT   NOT NULL,
        created_at     BIGINT NOT NULL
      );

      CREATE TABLE commands (
        seq             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        command_id      TEXT    NOT NULL UNIQUE,
        stream_id       TEXT    NOT NULL,
        partition       INTEGER NOT NULL,
        type            TEXT    NOT NULL,
        payload         TEXT    NOT NULL,
        metadata        TEXT    NOT NULL,
        device_id       TEXT    NOT NULL,
        idempotency_key TEXT,
        request_hash    TEXT,
        received_at     BIGINT  NOT NULL,
        status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
        reason          TEXT,
        detail          TEXT,
        stream_version  BIGINT,
        event_position  BIGINT  REFERENCES events (position),
        decided_at      BIGINT,
        attempts        INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT,
        decided_state   TEXT,
        bypass          INTEGER NOT NULL DEFAULT 0,
        late            INTEGER NOT NULL DEFAULT 0
      );
      CREATE UNIQUE INDEX commands_idempotency ON commands (device_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
      CREATE INDEX commands_pending ON commands (seq) WHERE status = 'pending';
      CREATE INDEX commands_stream ON commands (stream_id, seq);
      CREATE INDEX commands_rejected ON commands (decided_at) WHERE status = 'rejected';
      CREATE INDEX commands_decided ON commands (decided_at) WHERE decided_at IS NOT NULL;
      CREATE INDEX commands_device ON commands (device_id, received_at);
      CREATE FUNCTION waybill_decided_once() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF OLD.status <> 'pending' AND NEW.status IS DISTINCT FROM OLD.status THEN
          RAISE EXCEPTION 'commands: an outcome is final' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER commands_decided_once BEFORE UPDATE OF status ON commands FOR EACH ROW EXECUTE FUNCTION waybill_decided_once();

      CREATE TABLE parked (
        stream_id  TEXT    PRIMARY KEY,
        command_id TEXT    NOT NULL REFERENCES commands (command_id),
        error      TEXT    NOT NULL,
        attempts   INTEGER NOT NULL,
        parked_at  BIGINT  NOT NULL
      );
      CREATE TABLE tokens (
        token_id     TEXT    PRIMARY KEY,
        token_hash   TEXT    NOT NULL UNIQUE,
        device_id    TEXT    NOT NULL,
        role         TEXT    NOT NULL CHECK (role IN ('scanner', 'reviewer', 'admin')),
        label        TEXT,
        created_at   BIGINT  NOT NULL,
        last_seen_at BIGINT,
        revoked_at   BIGINT
      );
      CREATE TABLE waits (
        stream_id  TEXT    PRIMARY KEY,
        command_id TEXT    NOT NULL,
        seq        BIGINT  NOT NULL,
        state      TEXT    NOT NULL
      );
    `,
  ),
  postgres(
    'pg/2-device-seqs',
    `
      ALTER TABLE commands ADD COLUMN device_seq BIGINT;
      CREATE UNIQUE INDEX commands_device_seq ON commands (device_id, device_seq) WHERE device_seq IS NOT NULL;
      CREATE TABLE device_refusals (
        device_id    TEXT   NOT NULL,
        seq          BIGINT NOT NULL,
        request_hash TEXT   NOT NULL,
        detail       TEXT   NOT NULL,
        received_at  BIGINT NOT NULL,
        PRIMARY KEY (device_id, seq)
      );
      CREATE TABLE device_sync (
        device_id  TEXT   PRIMARY KEY,
        contiguous BIGINT NOT NULL
      );
    `,
  ),
  postgres(
    'pg/3-device-sync-gaps',
    `
      ALTER TABLE device_sync ADD COLUMN checked BIGINT NOT NULL DEFAULT 0;
      ALTER TABLE device_sync ADD COLUMN gaps TEXT NOT NULL DEFAULT '[]' CHECK (gaps::json IS NOT NULL);
      UPDATE device_sync SET checked = contiguous;
    `,
  ),
  // As inbox/8-no-decided-index.
  postgres('pg/4-no-decided-index', 'DROP INDEX IF EXISTS commands_decided;'),
]

/** Every migration of an installation: the store's own, then each read model's, in that order. */
export function allMigrations(projections: readonly Projection[]): Migration[] {
  return [...storeMigrations, ...projections.flatMap((p) => p.migrations)]
}
