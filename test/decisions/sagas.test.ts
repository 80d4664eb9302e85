import { join } from 'node:path'
import t from 'tap'
import { verify } from '../../src/operations/verify.js'
import { messageIds } from '../../src/projections/sagas.js'
import { partitionOf } from '../../src/queue/partitions.js'
import { openStorage } from '../../src/storage.js'
import { Parking } from '../../src/store/parking.js'
import type { SqliteStore } from '../../src/store/sqlite/store.js'
import { localLoop } from '../helpers/decider.js'
import { tempDir } from '../helpers/service.js'

// The trucks' saga across two partitions, each granted and revoked by hand, so that a shipment's owner
// and its truck's owner act at the moments a race needs (the deterministic simulation, test/sim, found
// both orders below; here each is one fixed schedule).
const shipment = 'S1'
const truck = 'truck:T2'

async function setup(t: { teardown(fn: () => unknown): void; match(found: unknown, wanted: object): unknown }, options: { assigned: boolean }) {
  const storage = await openStorage({ databaseFile: join(tempDir(t), 'w.db'), databaseUrl: undefined, busyTimeoutMs: 100, bootstrapToken: undefined })
  t.teardown(() => storage.close())
  const store = storage.store as SqliteStore
  const loop = localLoop(store, { partitions: 2 })
  const [ps, pt] = [partitionOf(shipment, 2), partitionOf(truck, 2)]
  const submit = (streamId: string, payload: { type: string; [field: string]: unknown }) => loop.submit(streamId, payload, streamId === truck ? pt : ps)
  // Both partitions here: the truck is opened, the shipment registered (and on it).
  await loop.claim('me', ps)
  await loop.claim('me', pt)
  await submit(truck, { type: 'OPEN', capacity: 5 })
  await submit(shipment, { type: 'REGISTER' })
  await loop.worker.kick()
  if (options.assigned) {
    const assign = await submit(shipment, { type: 'ASSIGN', truckId: 'T2' })
    await loop.worker.kick()
    t.match(await store.inbox.get(assign.commandId), { status: 'accepted' })
  }
  return { ...loop, store, storage, submit, ps, pt }
}

t.test('a shipment’s command queued behind its saga wait is decided before a message sent after it, also when the wait ends in the same cycle', async (t) => {
  const { store, worker, claim, submit, ps, pt } = await setup(t, { assigned: false })
  t.not(ps, pt, 'the shipment and its truck are in different partitions')
  // The shipment's partition is here, the truck's is not: its ASSIGN sends LOAD and waits.
  worker.revoke(pt)
  const assign = await submit(shipment, { type: 'ASSIGN', truckId: 'T2' })
  await worker.kick()
  t.match(await store.inbox.get(assign.commandId), { status: 'pending' }, 'ASSIGN waits for the truck')
  // A scanner's command queued behind the wait, then the truck's departure.
  const again = await submit(shipment, { type: 'ASSIGN', truckId: 'T2' })
  const depart = await submit(truck, { type: 'DEPART' })
  // The truck's owner comes back: one cycle decides LOAD (a place: the reply ends the shipment's
  // wait) and DEPART (with the shipment on its manifest: a DEPART_SHIP to it, after the queued ASSIGN).
  await claim('me', pt)
  await worker.kick()
  await worker.kick()

  t.match(await store.inbox.get(assign.commandId), { status: 'accepted' })
  const queued = await store.inbox.get(again.commandId)
  const shipped = await store.inbox.get(messageIds.ship(depart.commandId, shipment))
  t.match(queued, { status: 'rejected', reason: 'same_truck' }, 'the queued ASSIGN is decided while the shipment is still assigned to T2')
  t.match(shipped, { status: 'accepted' }, 'then the departure ships it')
  t.ok(queued!.streamVersion! < shipped!.streamVersion!, `arrival order: the ASSIGN (at version ${queued!.streamVersion}) before the DEPART_SHIP (at version ${shipped!.streamVersion})`)
  t.match((await store.events.readStream(shipment)).at(-1), { type: 'ShipmentShipped', metadata: { causationId: depart.commandId } })
  t.equal(await store.inbox.countPending(), 0)
  t.same((await verify(store)).problems, [])
})

t.test('an UNLOAD that reaches its truck after the truck departed with the shipment and came back is refused truck_departed', async (t) => {
  const { store, worker, claim, submit, ps } = await setup(t, { assigned: true })
  // The shipment's owner is away: its UNASSIGN waits in the inbox while the truck departs with it and returns.
  worker.revoke(ps)
  const unassign = await submit(shipment, { type: 'UNASSIGN' })
  const depart = await submit(truck, { type: 'DEPART' })
  const back = await submit(truck, { type: 'RETURN' })
  await worker.kick()
  t.match(await store.inbox.get(back.commandId), { status: 'accepted' })
  t.match(await store.inbox.get(messageIds.ship(depart.commandId, shipment)), { status: 'pending' }, 'the DEPART_SHIP waits behind the UNASSIGN')
  // The shipment's owner is back: UNASSIGN (first in arrival order) asks the truck, which is loading
  // again with an empty manifest — but the shipment left with its departure.
  await claim('me', ps)
  await worker.kick()
  await worker.kick()

  t.match(await store.inbox.get(messageIds.unload(unassign.commandId)), { status: 'rejected', reason: 'truck_departed' })
  t.match(await store.inbox.get(unassign.commandId), { status: 'rejected', reason: 'truck_departed' })
  t.match(await store.inbox.get(messageIds.ship(depart.commandId, shipment)), { status: 'accepted' })
  t.match((await store.events.readStream(shipment)).at(-1), { type: 'ShipmentShipped', metadata: { causationId: depart.commandId } }, 'shipped by the departure whose manifest it was on')
  t.equal(await store.inbox.countPending(), 0)
  t.same((await verify(store)).problems, [], 'manifest = shipped')
})

t.test('a message to a parked actor waits behind its parked command, also when it is sent in the cycle that could decide it', async (t) => {
  const { store, worker, claim, submit, pt } = await setup(t, { assigned: true })
  // The truck's DEPART is taken in while its partition is elsewhere, then parked (as after repeated failures).
  worker.revoke(pt)
  const depart = await submit(truck, { type: 'DEPART' })
  await new Parking(store.sql).park(truck, depart.commandId, 'failed three times', 3, Date.now())
  await claim('me', pt)
  // Both partitions here: the shipment's UNASSIGN sends UNLOAD to the parked truck in the same cycle.
  const unassign = await submit(shipment, { type: 'UNASSIGN' })
  await worker.kick()
  await worker.kick()
  t.match(await store.inbox.get(messageIds.unload(unassign.commandId)), { status: 'pending' }, 'the UNLOAD waits: the truck is parked with its DEPART first in line')
  t.match(await store.inbox.get(depart.commandId), { status: 'pending' })

  // Retried, the truck decides in arrival order: the DEPART (with the shipment aboard), then the UNLOAD.
  await new Parking(store.sql).retry(truck)
  for (let i = 0; i < 4; i++) await worker.kick()
  t.match(await store.inbox.get(depart.commandId), { status: 'accepted' })
  t.match(await store.inbox.get(messageIds.unload(unassign.commandId)), { status: 'rejected', reason: 'truck_departed' }, 'the UNLOAD finds the truck departed with it')
  t.match(await store.inbox.get(unassign.commandId), { status: 'rejected', reason: 'truck_departed' })
  t.match(await store.inbox.get(messageIds.ship(depart.commandId, shipment)), { status: 'accepted' }, 'and the departure ships the shipment')
})
