import t from 'tap'
import { eventually, startTestService } from '../helpers/service.js'

t.test('a poison command parks its shipment; admins see it and retry or discard it', async (t) => {
  const api = await startTestService(t, { env: { WAYBILL_FAULTS: 'poison:PZ', WAYBILL_MAX_ATTEMPTS: '2' } })
  const key = { 'idempotency-key': 'pz-register' }
  // Queued without waiting for an answer (a poisoned command is never decided); later commands wait
  // the default reply timeout, so a cold first decision on a loaded machine still answers 201.
  const stuck = await api.command('PZ', { type: 'REGISTER' }, { ...key, prefer: 'respond-async' })
  t.equal(stuck.status, 202, 'queued')
  const parked = await eventually(async () => {
    const res = await api.request('GET', '/admin/parked')
    return res.body.items.length ? res.body.items : undefined
  }, 10_000, 'the shipment to be parked')
  t.match(parked, [{ shipmentId: 'PZ', commandId: stuck.body.commandId, type: 'REGISTER', attempts: 2, waiting: 1, error: /InjectedFault/ }])
  t.equal((await api.command('OK-1', { type: 'REGISTER' })).status, 201, 'other shipments keep flowing')

  t.equal((await api.request('POST', '/admin/parked/NOPE/retry')).status, 404)
  t.match(await api.request('POST', '/admin/parked/PZ/retry'), { status: 200, body: { shipmentId: 'PZ' } })
  await eventually(async () => ((await api.request('GET', '/admin/parked')).body.items.length ? true : undefined), 10_000, 'it to fail and park again')

  t.match(await api.request('POST', '/admin/parked/PZ/discard'), { status: 200, body: { commandId: stuck.body.commandId } })
  t.match((await api.request('GET', `/commands/${stuck.body.commandId}`)).body, { outcome: 'rejected', reason: 'discarded', detail: /discarded by bootstrap/ })
  t.same((await api.request('GET', '/admin/parked')).body.items, [])
  const replay = await api.command('PZ', { type: 'REGISTER' }, key)
  t.equal(replay.status, 409, 'a retry of the discarded command answers its outcome')
  t.match(replay.body, { type: '/problems/command-discarded', reason: 'discarded', commandId: stuck.body.commandId })
  t.equal(replay.headers['idempotent-replayed'], 'true')
  t.notOk('shipment' in replay.body, 'no shipment object for a shipment that never existed')
})
