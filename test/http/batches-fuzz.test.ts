import fc from 'fast-check'
import t from 'tap'
import { verify } from '../../src/operations/verify.js'
import { sqliteDb } from '../helpers/db.js'
import { startTestService } from '../helpers/service.js'

// Property-based fuzzing of POST /batches: whatever a broken or hostile scanner app uploads — items
// good and bad, ids and commands of any shape, text that is no Unicode, seqs in any order, resent and
// reused seqs, bodies that are not JSON — the answer is documented, never a 5xx; a 200 answers every
// item at its seq with an item status the single route could give; only items answered as commands
// (201/200/202/404/409, not replayed) add a command; a 400 item, a 422 item or a refused batch adds none.

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code))
const text = fc.oneof(fc.string({ maxLength: 12 }), loneSurrogate, fc.constant('a\u0000b'), fc.constantFrom('..', '.', '__proto__', 'x'.repeat(70)))
const id = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('Z1', 'Z2', 'Z3') }, text, fc.integer(), fc.constant(null))
const valid = fc.constantFrom(
  { type: 'REGISTER' }, { type: 'ASSIGN', truckId: 'T1' }, { type: 'UNASSIGN' }, { type: 'SHIP' }, { type: 'DELIVER' }, { type: 'CANCEL' },
  { type: 'REGISTER', scannedAt: '2026-11-27T10:00:00Z', operatorId: 'op' }, { type: 'DELIVER', scannedAt: '2026-11-27T10:00:60Z' },
)
const command = fc.oneof(
  { weight: 4, arbitrary: valid },
  fc.record({ type: fc.oneof(fc.constantFrom('REGISTER', 'ASSIGN', 'OPEN', 'DEPART'), text), truckId: id, origin: text, operatorId: text, extra: fc.anything() }, { requiredKeys: [] }),
  fc.anything(),
)
const item = fc.oneof(
  { weight: 6, arbitrary: fc.record({ shipmentId: id, command }) },
  fc.record({ truckId: fc.constantFrom('TT1', 'TT2'), command: fc.constantFrom({ type: 'OPEN', capacity: 2 }, { type: 'DEPART' }, { type: 'RETURN' }, { type: 'OPEN', capacity: -1 }) }),
  fc.record({ shipmentId: id, truckId: id, command, colour: text }, { requiredKeys: [] }),
)
/** Mostly increasing seqs (continuing the device's numbering, so some are resends or reuses). */
const batch = fc.tuple(fc.array(item, { minLength: 0, maxLength: 12 }), fc.oneof({ weight: 1, arbitrary: fc.integer({ min: 1, max: 40 }) }, { weight: 4, arbitrary: fc.integer({ min: 41, max: 1_000_000 }) }), fc.integer({ min: 0, max: 9 }).map((n) => n === 0), fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 12, maxLength: 12 })).map(
  ([items, start, shuffled, steps]) => {
    let seq = start
    const numbered = items.map((it, i) => ({ seq: (seq += steps[i]!) - steps[i]!, ...it }))
    return { items: shuffled ? numbered.reverse() : numbered }
  },
)
const body = fc.oneof(
  { weight: 8, arbitrary: batch.map((b) => JSON.stringify(b)) },
  fc.json({ maxDepth: 3 }),
  fc.constantFrom('{"items":[{"seq":1,"shipmentId":"Z1","command":{"type":"REGISTER"},"__proto__":{"polluted":1}}]}', '{"items":', '', 'null', '{"items":[{"seq":1e400}]}', '{"items":[{"seq":-0}]}'),
  fc.string({ maxLength: 60 }),
)
const itemStatuses = new Set([200, 201, 202, 400, 404, 409, 422])
const commandStatuses = new Set([200, 201, 202, 404, 409])

t.test('POST /batches, a thousand arbitrary uploads: documented answers, no 5xx, no pollution, only answered items recorded', async (t) => {
  const api = await startTestService(t, { env: { WAYBILL_MAX_EVENT_LOOP_DELAY_MS: '60000', WAYBILL_RATE_LIMIT: '0' } })
  const token = (await api.request('POST', '/admin/tokens', { deviceId: 'fuzz-1', role: 'scanner' })).body.token as string
  const db = sqliteDb(api.service.storage)
  const commandCount = () => db.prepare('SELECT count(*) FROM commands').pluck().get() as number
  const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).join()
  const seen = new Map<number, number>()
  const itemSeen = new Map<number, number>()
  await fc.assert(
    fc.asyncProperty(body, async (payload) => {
      const before = commandCount()
      const res = await api.request('POST', '/batches', payload, { authorization: `Bearer ${token}` })
      seen.set(res.status, (seen.get(res.status) ?? 0) + 1)
      if (![200, 400, 413].includes(res.status)) throw new Error(`status ${res.status} for ${payload.slice(0, 300)}: ${JSON.stringify(res.body)}`)
      if (Object.getOwnPropertyNames(Object.prototype).join() !== prototypeKeys || ({} as { polluted?: unknown }).polluted !== undefined) throw new Error('Object.prototype polluted')
      if (res.status !== 200) {
        if (!String(res.headers['content-type']).startsWith('application/problem+json')) throw new Error(`a ${res.status} that is not problem+json`)
        if (commandCount() !== before) throw new Error(`a refused batch recorded commands: ${payload.slice(0, 300)}`)
        return
      }
      const sent = (JSON.parse(payload) as { items: Array<{ seq: number }> }).items
      const results = res.body.results as Array<{ seq: number; status: number; replayed?: boolean; commandId?: string }>
      if (results.length !== sent.length || results.some((r, i) => r.seq !== sent[i]!.seq)) throw new Error(`results do not answer the items in order: ${JSON.stringify(results)}`)
      for (const r of results) {
        itemSeen.set(r.status, (itemSeen.get(r.status) ?? 0) + 1)
        if (!itemStatuses.has(r.status)) throw new Error(`item status ${r.status}`)
        if ((r.status === 400) !== (r.commandId === undefined && r.status !== 422)) throw new Error(`a 400 item names a command, or another status does not: ${JSON.stringify(r)}`)
      }
      const recorded = results.filter((r) => commandStatuses.has(r.status) && !r.replayed).length
      if (commandCount() !== before + recorded) throw new Error(`${commandCount() - before} commands recorded for ${recorded} new items: ${JSON.stringify(results)}`)
      if (!Number.isInteger(res.body.lastContiguousSeq) || !Array.isArray(res.body.gaps)) throw new Error('no sync state')
    }),
    { numRuns: 1000, seed: 20261205 },
  )
  t.ok((seen.get(200) ?? 0) > 300 && (seen.get(400) ?? 0) > 50, `whole statuses ${JSON.stringify([...seen])}`)
  for (const status of [201, 200, 400, 404, 409, 422]) t.ok((itemSeen.get(status) ?? 0) > 0, `items answered ${status} (${itemSeen.get(status) ?? 0})`)
  t.same((await verify(api.service.storage.store)).problems, [], 'the invariants hold over everything recorded')
})
