import t from 'tap'
import { startTestService } from '../helpers/service.js'

// Event time comes from the wall clock, which can step back (NTP, a clock set by hand, another
// process on another host). Within a shipment recorded time never goes back: `?at=` names a prefix
// of its history and dwell times are never negative.
t.test('a clock that steps back', async (t) => {
  let now = Date.parse('2026-12-01T10:00:00.000Z')
  const api = await startTestService(t, { clock: () => now })
  const minute = 60_000

  t.equal((await api.command('TIME-1', { type: 'REGISTER' })).status, 201)
  now += 10 * minute // 10:10
  t.equal((await api.command('TIME-1', { type: 'ASSIGN', truckId: 'T1' })).status, 200)
  now -= 5 * minute // the clock steps back to 10:05
  t.equal((await api.command('TIME-1', { type: 'SHIP' })).status, 200)

  t.test('recorded time never goes back within a shipment', async (t) => {
    const events = (await api.request('GET', '/shipments/TIME-1/events')).body.events as Array<{ version: number; recordedAt: string }>
    const times = events.map((e) => Date.parse(e.recordedAt))
    t.same(times, [Date.parse('2026-12-01T10:00:00.000Z'), Date.parse('2026-12-01T10:10:00.000Z'), Date.parse('2026-12-01T10:10:00.000Z')])
    const shipment = (await api.request('GET', '/shipments/TIME-1')).body
    t.equal(shipment.updatedAt, '2026-12-01T10:10:00.000Z')
  })

  t.test('?at= is a point of the history, never a hole in it', async (t) => {
    for (const [at, expected] of [
      ['2026-12-01T10:07:00.000Z', { state: 'registered', version: 1 }],
      ['2026-12-01T10:09:59.999Z', { state: 'registered', version: 1 }],
      ['2026-12-01T10:10:00.000Z', { state: 'shipped', version: 3 }],
    ] as const) {
      const res = await api.request('GET', `/shipments/TIME-1?at=${at}`)
      t.equal(res.status, 200, `at ${at}: ${JSON.stringify(res.body)}`)
      t.match(res.body, expected, `at ${at}`)
    }
    t.equal((await api.request('GET', '/shipments/TIME-1?at=2026-12-01T09:59:00.000Z')).status, 404, 'before it was registered')
  })

  t.test('dwell times are never negative', async (t) => {
    const stats = (await api.request('GET', '/stats')).body as { states: Array<{ state: string; dwell: { samples: number; p50Ms: number | null } | null }> }
    const assigned = stats.states.find((s) => s.state === 'assigned')!
    t.match(assigned.dwell, { samples: 1 })
    t.ok(assigned.dwell!.p50Ms! >= 0, `assigned for ${assigned.dwell!.p50Ms} ms`)
    for (const s of stats.states) if (s.dwell?.p50Ms != null) t.ok(s.dwell.p50Ms >= 0, `${s.state}: ${s.dwell.p50Ms} ms`)
  })

  t.test('a rejected command after the step back changes nothing', async (t) => {
    now -= 30 * minute
    t.equal((await api.command('TIME-1', { type: 'SHIP' })).status, 409)
    now += 60 * minute // 10:35
    t.equal((await api.command('TIME-1', { type: 'DELIVER' })).status, 200)
    const events = (await api.request('GET', '/shipments/TIME-1/events')).body.events as Array<{ recordedAt: string }>
    t.equal(events.at(-1)!.recordedAt, '2026-12-01T10:35:00.000Z', 'a clock ahead again is used as it is')
  })
})
