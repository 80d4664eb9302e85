import t from 'tap'
import { eachAdapter } from '../helpers/adapters.js'
import { startCluster } from '../helpers/cluster.js'
import { eventually, http } from '../helpers/service.js'

// bee-queue pushes a stalled job to the back of the queue. Here the worker dies while the ASSIGN of a
// shipment is in flight (its job taken, its transaction open); SHIP is sent after the crash, so the
// queue may now hold SHIP's job before ASSIGN's. The replacement worker must still decide ASSIGN first.
eachAdapter(t, 'a worker killed while ASSIGN is in flight: after recovery SHIP is accepted, not rejected', async (t, adapter) => {
  const cluster = await startCluster(t, adapter.env)
  await cluster.serve({ WAYBILL_MAX_PARTITIONS: '0' })
  const first = cluster.worker({ WAYBILL_FAULTS: 'crash:after-events:2' })
  await first.waitFor(/partition acquired/)
  const id = 'STALL-1'
  /** A queued command's answer once it is decided (polled as a scanner app does). */
  const decided = (commandId: string, what: string) =>
    eventually(async () => {
      const res = await http(cluster.base, 'GET', `/commands/${commandId}`)
      return res.body.outcome === 'queued' ? undefined : res.body
    }, 30_000, `${what} to be decided`)
  // Queued, then polled: the worker may still be acquiring STALL-1's partition (a cold start on a
  // loaded machine can outlast the cluster's 1 s reply timeout).
  const register = await http(cluster.base, 'POST', `/shipments/${id}/commands`, { type: 'REGISTER' }, { prefer: 'respond-async' })
  t.equal(register.status, 202)
  t.equal((await decided(register.body.commandId, 'REGISTER')).outcome, 'accepted', 'decided by the worker')
  const assign = await http(cluster.base, 'POST', `/shipments/${id}/commands`, { type: 'ASSIGN', truckId: 'T1' }, { prefer: 'respond-async' })
  t.equal(assign.status, 202, 'ASSIGN durably queued')
  await first.exited
  t.pass('the worker died with ASSIGN in flight (events appended, not committed)')

  const ship = await http(cluster.base, 'POST', `/shipments/${id}/commands`, { type: 'SHIP' }, { prefer: 'respond-async' })
  t.equal(ship.status, 202, 'SHIP durably queued behind it')
  cluster.worker()
  t.equal((await decided(ship.body.commandId, 'SHIP')).outcome, 'accepted', 'SHIP was accepted')
  t.match((await http(cluster.base, 'GET', `/commands/${assign.body.commandId}`)).body, { outcome: 'accepted' })
  const events = (await http(cluster.base, 'GET', `/shipments/${id}/events`)).body.events.map((e: { type: string }) => e.type)
  t.same(events, ['ShipmentRegistered', 'TruckAssigned', 'ShipmentShipped'])
  t.match((await http(cluster.base, 'GET', `/shipments/${id}`)).body, { state: 'shipped', truckId: 'T1' })
})
