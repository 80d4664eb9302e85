import { join } from 'node:path'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify from 'fastify'
import { Type } from 'typebox'
import { FirstUse, validatorCompiler } from '../../src/commands/validation.js'
import { CommandBody, ShipmentParams } from '../../src/http/schemas.js'
import { openDatabase } from '../../src/store/sqlite/executor.js'

/**
 * The baselines the benchmark compares against: a plain state-mutation server with the same HTTP
 * shape (same route, same body schema, bearer token), one row per shipment, an optimistic UPDATE
 * guarded by the row's version, no queue, no event log. The rules are the docs/api.md rules as a
 * lookup table. Durable (`synchronous=FULL`, one fsync per request) unless BASELINE_SYNCHRONOUS=NORMAL
 * (WAL without fsync at commit: the last writes may be lost in a power cut; CPU-bound, steadier).
 * BASELINE_STORAGE=memory keeps the rows in a Map instead (nothing stored): the cost of the HTTP route
 * itself, the floor under any server of this shape.
 */
const dataDir = process.env.WAYBILL_DATA_DIR ?? './data'
const token = process.env.WAYBILL_BOOTSTRAP_TOKEN ?? ''
type Row = { shipment_id: string; state: string; version: number; truck_id: string | null; registered_at: number; updated_at: number }

/** The three statements, on SQLite or (BASELINE_STORAGE=memory) on a Map. */
interface Rows {
  select(shipmentId: string): Row | undefined
  /** Registers: false when the shipment exists. */
  insert(shipmentId: string, now: number): boolean
  /** Moves the row if it is still at `version`: false when another request moved it first. */
  update(shipmentId: string, version: number, state: string, truckId: string | null, now: number): boolean
}

function sqliteRows(): Rows & { close(): void } {
  const db = openDatabase(join(dataDir, 'baseline.db'), { busyTimeoutMs: 500 })
  if (process.env.BASELINE_SYNCHRONOUS === 'NORMAL') db.pragma('synchronous = NORMAL')
  db.exec(`CREATE TABLE IF NOT EXISTS shipments (
    shipment_id TEXT PRIMARY KEY, state TEXT NOT NULL, version INTEGER NOT NULL, truck_id TEXT,
    registered_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID`)
  const select = db.prepare('SELECT * FROM shipments WHERE shipment_id = ?')
  const insert = db.prepare("INSERT INTO shipments VALUES (?, 'registered', 1, NULL, ?, ?) ON CONFLICT DO NOTHING")
  const update = db.prepare('UPDATE shipments SET state = ?, truck_id = ?, version = version + 1, updated_at = ? WHERE shipment_id = ? AND version = ?')
  return {
    select: (shipmentId) => select.get(shipmentId) as Row | undefined,
    insert: (shipmentId, now) => insert.run(shipmentId, now, now).changes === 1,
    update: (shipmentId, version, state, truckId, now) => update.run(state, truckId, now, shipmentId, version).changes === 1,
    close: () => db.close(),
  }
}

function memoryRows(): Rows & { close(): void } {
  const rows = new Map<string, Row>()
  return {
    select: (shipmentId) => rows.get(shipmentId),
    insert: (shipmentId, now) => {
      if (rows.has(shipmentId)) return false
      rows.set(shipmentId, { shipment_id: shipmentId, state: 'registered', version: 1, truck_id: null, registered_at: now, updated_at: now })
      return true
    },
    update: (shipmentId, version, state, truckId, now) => {
      const row = rows.get(shipmentId)
      if (row?.version !== version) return false
      rows.set(shipmentId, { ...row, state, truck_id: truckId, version: version + 1, updated_at: now })
      return true
    },
    close: () => rows.clear(),
  }
}

const store = process.env.BASELINE_STORAGE === 'memory' ? memoryRows() : sqliteRows()

const next: Record<string, Record<string, string>> = {
  registered: { ASSIGN: 'assigned', CANCEL: 'cancelled' },
  assigned: { ASSIGN: 'assigned', UNASSIGN: 'registered', SHIP: 'shipped', CANCEL: 'cancelled' },
  shipped: { DELIVER: 'delivered' },
}
const view = (r: Row) => ({ shipmentId: r.shipment_id, state: r.state, version: r.version, truckId: r.truck_id, registeredAt: new Date(r.registered_at).toISOString(), updatedAt: new Date(r.updated_at).toISOString() })

const app = Fastify({ bodyLimit: 16384 }).withTypeProvider<TypeBoxTypeProvider>()
app.setValidatorCompiler(validatorCompiler(new FirstUse()))
app.post('/shipments/:shipmentId/commands', { schema: { params: ShipmentParams, body: CommandBody, response: { 200: Type.Any(), 201: Type.Any(), 401: Type.Any(), 404: Type.Any(), 409: Type.Any() } } }, async (request, reply) => {
  if (request.headers.authorization !== `Bearer ${token}`) return reply.code(401).send({ status: 401 })
  const { shipmentId } = request.params
  const command = request.body
  const now = Date.now()
  if (command.type === 'REGISTER') {
    const created = store.insert(shipmentId, now)
    return reply.code(created ? 201 : 409).send(created ? { outcome: 'accepted', shipment: view(store.select(shipmentId)!) } : { reason: 'already_registered' })
  }
  const row = store.select(shipmentId)
  if (!row) return reply.code(404).send({ reason: 'not_found' })
  const target = next[row.state]?.[command.type]
  const truck = command.type === 'ASSIGN' ? command.truckId : command.type === 'UNASSIGN' || command.type === 'CANCEL' ? null : row.truck_id
  if (!target || (command.type === 'ASSIGN' && truck === row.truck_id)) return reply.code(409).send({ reason: 'invalid_transition' })
  if (!store.update(shipmentId, row.version, target, truck, now)) return reply.code(409).send({ reason: 'conflict' })
  return { outcome: 'accepted', shipment: view(store.select(shipmentId)!) }
})
const address = await app.listen({ port: Number(process.env.PORT ?? 3100), host: '127.0.0.1' })
process.stdout.write(`${JSON.stringify({ msg: 'baseline serving', address })}\n`)
process.on('SIGTERM', () => void app.close().then(() => store.close()))
