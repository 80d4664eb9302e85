import t from 'tap'
import { partitionOf } from '../../src/queue/partitions.js'
import { eventually, startTestService } from '../helpers/service.js'

/** The value of a series in Prometheus text format (0 if absent). */
function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line ? Number(line.slice(series.length + 1)) : 0
}

t.test('/metrics exposes the series and they move when commands are processed', async (t) => {
  const api = await startTestService(t, { env: { WAYBILL_FAULTS: 'poison:MX-P', WAYBILL_MAX_ATTEMPTS: '1' } })
  const scrape = async () => {
    const res = await api.request('GET', '/metrics')
    t.equal(res.status, 200)
    t.match(res.headers['content-type'], /^text\/plain/)
    return String(res.body)
  }
  const before = await scrape()
  for (const name of [
    'waybill_commands_received_total', 'waybill_commands_total', 'waybill_command_latency_seconds', 'waybill_events_appended_total',
    'waybill_hydrations_total', 'waybill_inbox_pending', 'waybill_inbox_oldest_pending_seconds', 'waybill_queue_jobs_waiting',
    'waybill_parked_shipments', 'waybill_http_request_duration_seconds', 'waybill_cycle_commands', 'waybill_partitions_held',
  ]) t.match(before, new RegExp(`# TYPE ${name} `), `${name} is exposed`)
  // Both backlog series come from one read of the inbox per scrape.
  const inbox = api.service.storage.store.inbox
  const readBacklog = inbox.pendingByPartition.bind(inbox)
  let reads = 0
  inbox.pendingByPartition = () => (reads++, readBacklog())
  await scrape()
  inbox.pendingByPartition = readBacklog
  t.equal(reads, 1, 'one read of the backlog per scrape')
  // Nothing waits yet: each partition's backlog is a sample of 0, not a missing series.
  for (const partition of [0, 7]) {
    t.match(before, new RegExp(`^waybill_inbox_pending\\{partition="${partition}"\\} 0$`, 'm'), `partition ${partition}: nothing pending`)
    t.match(before, new RegExp(`^waybill_inbox_oldest_pending_seconds\\{partition="${partition}"\\} 0$`, 'm'), `partition ${partition}: nothing waiting`)
  }

  await api.command('MX-1', { type: 'REGISTER' })
  await api.command('MX-1', { type: 'ASSIGN', truckId: 'T1' })
  await api.command('MX-1', { type: 'DELIVER' })
  // Queued without waiting: a poisoned command is never decided.
  await api.command('MX-P', { type: 'REGISTER' }, { prefer: 'respond-async' })
  // The poisoned shipment is parked after its failed attempts (retried in place with a backoff).
  const after = await eventually(async () => {
    const text = await scrape()
    return value(text, 'waybill_parked_shipments') === 1 ? text : undefined
  }, 20_000, 'the poisoned shipment to be parked')
  t.equal(value(after, 'waybill_commands_received_total{type="REGISTER"}'), 2)
  t.equal(value(after, 'waybill_commands_total{type="REGISTER",outcome="accepted",reason=""}'), 1)
  t.equal(value(after, 'waybill_commands_total{type="DELIVER",outcome="rejected",reason="invalid_transition"}'), 1)
  t.equal(value(after, 'waybill_events_appended_total{type="TruckAssigned"}'), 1)
  t.equal(value(after, 'waybill_command_latency_seconds_count{outcome="accepted"}'), 2)
  t.ok(value(after, 'waybill_hydrations_total{source="cache"}') + value(after, 'waybill_hydrations_total{source="replay"}') >= 3, 'hydrations counted')
  t.equal(value(after, 'waybill_parked_shipments'), 1, 'the poisoned shipment is parked')
  const parked = partitionOf('MX-P', 8)
  t.equal(value(after, `waybill_inbox_pending{partition="${parked}"}`), 1, "the parked shipment's command waits")
  t.ok(value(after, `waybill_inbox_oldest_pending_seconds{partition="${parked}"}`) > 0, 'and for how long')
  t.equal(value(after, 'waybill_partitions_held'), 8)
  t.ok(value(after, 'waybill_http_request_duration_seconds_count{method="POST",route="/shipments/:shipmentId/commands",status="201"}') >= 1)
  t.match(after, /waybill_process_resident_memory_bytes \d+/, 'process metrics too')
})

t.test('truck series: trucks by state, the load factor, departures by size', async (t) => {
  const api = await startTestService(t)
  const scrape = async () => String((await api.request('GET', '/metrics')).body)
  await api.request('POST', '/trucks/MT1/commands', { type: 'OPEN', capacity: 4 })
  await api.request('POST', '/trucks/MT2/commands', { type: 'OPEN', capacity: 4 })
  for (const id of ['M1', 'M2', 'M3']) {
    await api.command(id, { type: 'REGISTER' })
    await api.command(id, { type: 'ASSIGN', truckId: id === 'M3' ? 'MT2' : 'MT1' })
  }
  const loading = await scrape()
  t.equal(value(loading, 'waybill_trucks{state="loading"}'), 2)
  t.equal(value(loading, 'waybill_truck_load_factor'), 3 / 8, 'three places of eight taken')
  t.equal((await api.request('POST', '/trucks/MT1/commands', { type: 'DEPART' })).status, 200)
  const departed = await scrape()
  t.equal(value(departed, 'waybill_trucks{state="departed"}'), 1)
  t.equal(value(departed, 'waybill_truck_departures_count'), 1)
  t.equal(value(departed, 'waybill_truck_departures_sum'), 2, 'two shipments left with it')
  t.equal(value(departed, 'waybill_truck_load_factor'), 1 / 4)
})
