import type { Statement } from 'better-sqlite3'
import { FencedError, OutcomeConflictError, type CycleGenerator, type CycleOp, type LoadedStream, type PendingBatch, type WritePlan } from '../cycle.js'
import { toEvent, type EventRow } from '../events.js'
import { commandColumns, decidableSql, pendingCommand, toCommand, type CommandRow } from '../inbox.js'
import type { Projection } from '../projection.js'
import { assertInTransaction } from '../sql.js'
import type { InboxCommand, NewCommand, StoredEvent, SubmitResult } from '../types.js'
import type { Db } from './executor.js'

/**
 * The decision cycle's operations on SQLite (see ../cycle.ts), all synchronous prepared statements:
 * the adapter drives the cycle's generator inside ONE better-sqlite3 `BEGIN IMMEDIATE` transaction
 * (one fsync for a whole batch: the group commit), nothing awaited inside.
 */
export class SqliteCycleOps {
  readonly #insert: Statement
  readonly #byId: Statement
  readonly #byKey: Statement
  readonly #byDeviceSeq: Statement
  readonly #refused: Statement
  readonly #pendingSeqs: Statement
  readonly #pendingIn: Statement
  readonly #bySeq: Statement
  readonly #epoch: Statement
  readonly #snapshot: Statement
  readonly #tail: Statement
  readonly #wait: Statement
  readonly #version: Statement
  readonly #parkedIn: Statement
  readonly #append: Statement
  readonly #decide: Statement
  readonly #saveSnapshot: Statement
  readonly #setWait: Statement
  readonly #endWait: Statement
  readonly #projections: Array<{ projection: Projection; statements: Map<string, Statement> }>

  constructor(
    private readonly db: Db,
    projections: readonly Projection[],
  ) {
    this.#insert = db.prepare(
      `INSERT INTO commands (command_id, stream_id, partition, type, payload, metadata, device_id, idempotency_key, request_hash, received_at, bypass, device_seq)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    )
    this.#byId = db.prepare(`SELECT ${commandColumns} FROM commands WHERE command_id = ?`)
    this.#byKey = db.prepare(`SELECT ${commandColumns} FROM commands WHERE device_id = ? AND idempotency_key = ?`)
    this.#byDeviceSeq = db.prepare(`SELECT ${commandColumns} FROM commands WHERE device_id = ? AND device_seq = ?`)
    this.#refused = db.prepare('SELECT 1 FROM device_refusals WHERE device_id = ? AND seq = ?').pluck()
    this.#pendingSeqs = db.prepare(`SELECT seq FROM commands WHERE status = 'pending' AND ${decidableSql} ORDER BY seq LIMIT ?`).pluck()
    this.#pendingIn = db.prepare(
      `SELECT ${commandColumns} FROM commands WHERE status = 'pending' AND partition IN (SELECT value FROM json_each(?)) AND ${decidableSql} ORDER BY seq LIMIT ?`,
    )
    this.#bySeq = db.prepare(`SELECT ${commandColumns} FROM commands WHERE seq = ?`)
    this.#epoch = db.prepare('SELECT epoch FROM partitions WHERE partition = ?').pluck()
    this.#snapshot = db.prepare('SELECT version, schema, state FROM snapshots WHERE stream_id = ? AND schema IN (SELECT value FROM json_each(?)) ORDER BY version DESC LIMIT 1')
    this.#tail = db.prepare('SELECT position, stream_id, version, type, data, metadata, recorded_at FROM events WHERE stream_id = ? AND version > ? ORDER BY version')
    this.#wait = db.prepare('SELECT command_id, seq, state FROM waits WHERE stream_id = ?')
    this.#version = db.prepare('SELECT coalesce((SELECT version FROM events WHERE stream_id = ? ORDER BY version DESC LIMIT 1), 0)').pluck()
    this.#parkedIn = db.prepare('SELECT stream_id FROM parked WHERE stream_id IN (SELECT value FROM json_each(?))').pluck()
    this.#append = db.prepare('INSERT INTO events (stream_id, version, type, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?)')
    this.#decide = db.prepare(
      `UPDATE commands SET status = ?, reason = ?, detail = ?, stream_version = ?, event_position = ?, decided_at = ?, decided_state = ?, late = ?
       WHERE seq = ? AND status = 'pending'`,
    )
    this.#saveSnapshot = db.prepare(
      `INSERT INTO snapshots (stream_id, version, schema, state) VALUES (?, ?, ?, ?)
       ON CONFLICT (stream_id, schema, version) DO UPDATE SET state = excluded.state`,
    )
    this.#setWait = db.prepare(
      `INSERT INTO waits (stream_id, command_id, seq, state) VALUES (?, ?, ?, ?)
       ON CONFLICT (stream_id) DO UPDATE SET command_id = excluded.command_id, seq = excluded.seq, state = excluded.state`,
    )
    this.#endWait = db.prepare('DELETE FROM waits WHERE stream_id = ?')
    this.#projections = projections.map((projection) => ({
      projection,
      statements: new Map(Object.entries(projection.statements).map(([key, sql]) => [key, db.prepare(sql as string)])),
    }))
  }

  /** Drives the cycle to its end. Call inside the write transaction. */
  run<T>(cycle: CycleGenerator<T>): T {
    let step = cycle.next()
    while (!step.done) {
      let answer: unknown
      try {
        answer = this.#do(step.value)
      } catch (error) {
        step = cycle.throw(error)
        continue
      }
      step = cycle.next(answer)
    }
    return step.value
  }

  #do(op: CycleOp): unknown {
    switch (op.op) {
      case 'insert':
        return this.insert(op.commands)
      case 'fence':
        return this.fence(op.held)
      case 'pending':
        return this.pending(op.partitions, op.limit, op.fresh)
      case 'load': {
        const schemas = JSON.stringify(op.schemas)
        return op.streams.map((streamId) => this.#load(streamId, schemas))
      }
      case 'peek':
        return new Map(op.streams.map((id) => [id, this.#version.get(id) as number]))
      case 'parked':
        return new Set(this.#parkedIn.all(JSON.stringify(op.streams)) as string[])
      case 'write':
        return this.write(op.plan)
    }
  }

  /**
   * Records commands (or finds the ones their idempotency keys, device seqs or ids already name), in
   * order. Writes are serialized, so the refusal check and the insert see the same table.
   */
  insert(commands: readonly NewCommand[]): SubmitResult[] {
    assertInTransaction(this.db, 'insert')
    return commands.map((command): SubmitResult => {
      const deviceId = command.metadata.deviceId
      const deviceSeq = command.deviceSeq ?? null
      if (deviceSeq !== null && this.#refused.get(deviceId, deviceSeq) !== undefined) return { kind: 'seq-taken' }
      const inserted = this.#insert.run(
        command.commandId,
        command.streamId,
        command.partition,
        command.payload.type,
        JSON.stringify(command.payload),
        JSON.stringify(command.metadata),
        deviceId,
        command.idempotencyKey,
        command.requestHash,
        command.receivedAt,
        command.bypass ? 1 : 0,
        deviceSeq,
      )
      if (inserted.changes === 1) {
        return { kind: 'new', command: pendingCommand(command, Number(inserted.lastInsertRowid)) }
      }
      const existing =
        (command.idempotencyKey === null ? undefined : (this.#byKey.get(deviceId, command.idempotencyKey) as CommandRow | undefined)) ??
        (deviceSeq === null ? undefined : (this.#byDeviceSeq.get(deviceId, deviceSeq) as CommandRow | undefined))
      if (!existing) {
        // The command id itself was taken: a replayed submission, or a message sent before.
        const same = this.#byId.get(command.commandId) as CommandRow | undefined
        if (!same) throw new Error(`commands: insert of ${command.commandId} ignored without a conflicting row`)
        return { kind: 'replay', command: toCommand(same) }
      }
      return { kind: existing.request_hash === command.requestHash ? 'replay' : 'conflict', command: toCommand(existing) }
    })
  }

  fence(held: ReadonlyMap<number, number>): void {
    assertInTransaction(this.db, 'fence')
    for (const [partition, epoch] of held) {
      const current = (this.#epoch.get(partition) as number | undefined) ?? 0
      if (current !== epoch) throw new FencedError(partition, epoch, current)
    }
  }

  /**
   * Pending commands of the partitions asked for, in arrival order. For all partitions, only the
   * `seq`s are read and the commands just inserted in this cycle are taken as they are (no row read,
   * no JSON parsed).
   */
  pending(partitions: readonly number[] | 'all', limit: number, fresh: readonly InboxCommand[]): PendingBatch {
    const through = (read: number, last: number | undefined) => (read < limit ? Infinity : last!)
    if (partitions !== 'all') {
      if (partitions.length === 0) return { commands: [], through: Infinity }
      const commands = (this.#pendingIn.all(JSON.stringify(partitions), limit) as CommandRow[]).map(toCommand)
      return { commands, through: through(commands.length, commands.at(-1)?.seq) }
    }
    const known = new Map(fresh.map((c) => [c.seq, c]))
    const seqs = this.#pendingSeqs.all(limit) as number[]
    const commands = seqs.map((seq) => known.get(seq) ?? toCommand(this.#bySeq.get(seq) as CommandRow))
    return { commands, through: through(seqs.length, seqs.at(-1)) }
  }

  /** A stream as a cycle loads it: its newest checkpoint of one of `schemas`, the events after it, its saga wait. */
  load(streamId: string, schemas: readonly string[]): LoadedStream {
    return this.#load(streamId, JSON.stringify(schemas))
  }

  /** `schemas`: the checkpoint schemas as JSON, stringified once for a whole batch. */
  #load(streamId: string, schemas: string): LoadedStream {
    const row = this.#snapshot.get(streamId, schemas) as { version: number; schema: string; state: string } | undefined
    const snapshot = row && { version: row.version, schema: row.schema, state: JSON.parse(row.state) as unknown }
    const events = (this.#tail.all(streamId, snapshot?.version ?? 0) as EventRow[]).map(toEvent)
    const wait = this.#wait.get(streamId) as { command_id: string; seq: number; state: string } | undefined
    return { streamId, snapshot, events, wait: wait ? { commandId: wait.command_id, seq: wait.seq, state: JSON.parse(wait.state) as unknown } : null }
  }

  write(plan: WritePlan): StoredEvent[] {
    assertInTransaction(this.db, 'write')
    const written: StoredEvent[] = []
    const positions = new Map<string, number>()
    for (const append of plan.appends) {
      append.events.forEach((event, i) => {
        const version = append.expectedVersion + i + 1
        const { lastInsertRowid } = this.#append.run(append.streamId, version, event.type, JSON.stringify(event.data), JSON.stringify(event.metadata), append.recordedAt)
        const stored: StoredEvent = { position: Number(lastInsertRowid), streamId: append.streamId, version, type: event.type, data: event.data, metadata: event.metadata, recordedAt: append.recordedAt }
        written.push(stored)
        positions.set(`${append.streamId}\u0000${version}`, stored.position)
        for (const { projection, statements } of this.#projections) {
          for (const write of projection.project(stored)) statements.get(write.statement)!.run(write.params)
        }
      })
    }
    for (const { seq, commandId, outcome, event } of plan.outcomes) {
      const position = event ? positions.get(`${event.streamId}\u0000${event.version}`) : null
      if (position === undefined) throw new Error(`command ${commandId}: its event ${event!.streamId}@${event!.version} was not written in this cycle`)
      const { changes } = this.#decide.run(outcome.status, outcome.reason, outcome.detail, outcome.streamVersion, position, outcome.decidedAt, outcome.decidedState, outcome.late ? 1 : 0, seq)
      if (changes !== 1) throw new OutcomeConflictError(`command ${commandId} was already decided`)
    }
    for (const { streamId, snapshot } of plan.snapshots) this.#saveSnapshot.run(streamId, snapshot.version, snapshot.schema, JSON.stringify(snapshot.state))
    for (const { streamId, wait } of plan.waits) {
      if (wait) this.#setWait.run(streamId, wait.commandId, wait.seq, JSON.stringify(wait.state))
      else this.#endWait.run(streamId)
    }
    return written
  }
}
