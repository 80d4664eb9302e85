import t from 'tap'
import { versionAtSql } from '../../src/store/events.js'
import { sqliteDb } from '../helpers/db.js'
import { writeHistory } from '../helpers/long-history.js'
import { bootstrapToken, startTestService, type TestService } from '../helpers/service.js'

// Issue 9, items 4 and 5: the cost of every request is bounded whatever the length of a history.
// A shipment with a 20,001-event history (the attack: ASSIGN T1 / ASSIGN T2 for ever) and as
// many commands is written straight through the store, then every history read is made and the rows
// it read from the log are counted (EventLog.reads, the timeline's rows) — not its wall time.

const history = 20_001
const snapshotEvery = 16

/** The log rows (events, checkpoints) and timeline rows one request read. */
async function cost(api: TestService, method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const { store, queries } = api.service.storage
  const { reads } = store.events
  const before = { events: reads.events, snapshots: reads.snapshots, timeline: queries.timelineRowsRead }
  const res = await api.request(method, url, body, headers)
  return {
    res,
    events: reads.events - before.events,
    snapshots: reads.snapshots - before.snapshots,
    timeline: queries.timelineRowsRead - before.timeline,
  }
}

t.test('a 20,001-event shipment: every request reads a bounded number of rows', async (t) => {
  const api = await startTestService(t, { env: { WAYBILL_SNAPSHOT_EVERY: String(snapshotEvery), WAYBILL_MAX_EVENT_LOOP_DELAY_MS: '60000' } })
  const start = Date.parse('2026-06-01T00:00:00.000Z')
  await writeHistory(api.service.storage, 'LONG', history, { start, snapshotEvery })
  t.equal(await api.service.storage.store.events.streamVersion('LONG'), history, `the history has ${history} events`)
  t.match((await api.request('GET', '/shipments/LONG')).body, { version: history, state: 'assigned' })

  // A tail of at most snapshotEvery - 1 events after one checkpoint, whichever version is asked.
  const hydration = snapshotEvery

  t.test('GET /shipments/{id}/events pages by version: 1000 by default, `next` to follow', async (t) => {
    const first = await cost(api, 'GET', '/shipments/LONG/events')
    t.equal(first.res.status, 200)
    t.equal(first.res.body.events.length, 1000, 'default page: 1000 events')
    t.equal(first.res.body.events[0].version, 1)
    t.equal(first.res.body.next, 1000, 'next is the after of the following page')
    t.ok(first.events <= 1001, `read ${first.events} events`)

    const middle = await cost(api, 'GET', '/shipments/LONG/events?after=12345&limit=10')
    t.same(middle.res.body.events.map((e: { version: number }) => e.version), [12346, 12347, 12348, 12349, 12350, 12351, 12352, 12353, 12354, 12355])
    t.equal(middle.res.body.next, 12355)
    t.ok(middle.events <= 11, `a page in the middle read ${middle.events} events`)

    const last = await cost(api, 'GET', `/shipments/LONG/events?after=${history - 3}&limit=1000`)
    t.same(last.res.body.events.map((e: { version: number }) => e.version), [history - 2, history - 1, history])
    t.equal(last.res.body.next, null, 'null on the last page')
    const beyond = await api.request('GET', `/shipments/LONG/events?after=${history}`)
    t.same([beyond.status, beyond.body.events, beyond.body.next], [200, [], null], 'after the end: an empty last page')

    for (const bad of ['limit=0', 'limit=1001', 'after=-1', 'after=x', 'limit=1.5']) {
      const res = await api.request('GET', `/shipments/LONG/events?${bad}`)
      t.equal(res.status, 400, `${bad}: 400`)
      t.match(String(res.headers['content-type']), /^application\/problem\+json/)
    }
    t.equal((await api.request('GET', '/shipments/NOPE/events')).status, 404)
  })

  t.test('?version= and ?at= start from a checkpoint, not from event 1', async (t) => {
    for (const version of [1, 2, 15, 16, 17, 9999, 10_000, history - 1, history]) {
      const { res, events, snapshots } = await cost(api, 'GET', `/shipments/LONG?version=${version}`)
      t.equal(res.status, 200)
      t.equal(res.body.version, version, `version ${version}`)
      t.equal(res.body.truckId, version === 1 ? null : version % 2 === 0 ? 'T2' : 'T1')
      t.ok(events < hydration && snapshots <= 1, `?version=${version}: ${events} events, ${snapshots} checkpoint read`)
    }
    for (const version of [1, 777, 15_000, history]) {
      const at = new Date(start + (version - 1) * 1000 + 500).toISOString()
      const { res, events, snapshots } = await cost(api, 'GET', `/shipments/LONG?at=${at}`)
      t.equal(res.body.version, version, `at ${at}: version ${version}`)
      t.ok(events < hydration && snapshots <= 1, `?at=: ${events} events, ${snapshots} checkpoint read`)
    }
    t.equal((await api.request('GET', `/shipments/LONG?at=${new Date(start - 1).toISOString()}`)).status, 404, 'before it was registered')
  })

  t.test('?at= finds its version by index seeks, not by reading the stream', async (t) => {
    const plan = sqliteDb(api.service.storage).prepare(`EXPLAIN QUERY PLAN ${versionAtSql}`).all({ id: 'LONG', at: start }) as Array<{ detail: string }>
    const details = plan.map((p) => p.detail)
    t.ok(details.some((d) => /SEARCH events USING (COVERING )?INDEX events_stream_time/.test(d)), details.join(' | '))
    t.notOk(details.some((d) => /^SCAN (?!CONSTANT ROW)|TEMP B-TREE/.test(d)), 'no scan of a table or an index, no sort')
  })

  t.test('GET /commands/{id} and idempotent replays of an old command', async (t) => {
    const old = sqliteDb(api.service.storage).prepare("SELECT command_id FROM commands WHERE stream_id = 'LONG' AND stream_version = 3").pluck().get() as string
    const status = await cost(api, 'GET', `/commands/${old}`)
    t.match(status.res.body, { commandId: old, outcome: 'accepted', event: { version: 3, type: 'TruckAssigned' } })
    t.ok(status.events + status.snapshots <= 1, `GET /commands/{id}: ${status.events} events, ${status.snapshots} checkpoints`)

    // The command that made version v assigned T2 for an even v, T1 for an odd one.
    const replay = await cost(api, 'POST', '/shipments/LONG/commands', { type: 'ASSIGN', truckId: 'T1' }, { 'idempotency-key': 'key-3' })
    t.equal(replay.res.status, 200)
    t.equal(replay.res.headers['idempotent-replayed'], 'true')
    t.match(replay.res.body, { commandId: old, shipment: { version: 3, truckId: 'T1' }, event: { version: 3 } })
    t.ok(replay.events < hydration && replay.snapshots <= 1, `idempotent replay: ${replay.events} events, ${replay.snapshots} checkpoints`)

    const late = sqliteDb(api.service.storage).prepare("SELECT command_id FROM commands WHERE stream_id = 'LONG' AND stream_version = 19999").pluck().get() as string
    const lateReplay = await cost(api, 'POST', '/shipments/LONG/commands', { type: 'ASSIGN', truckId: 'T1' }, { 'idempotency-key': 'key-19999' })
    t.match(lateReplay.res.body, { commandId: late, shipment: { version: 19_999 } })
    t.ok(lateReplay.events < hydration, `a late replay: ${lateReplay.events} events`)
  })

  t.test('the reviewer timeline pages too (it returned the oldest 1000 commands and no more)', async (t) => {
    const first = await cost(api, 'GET', '/shipments/LONG/commands')
    t.equal(first.res.status, 200)
    t.equal(first.res.body.commands.length, 1000)
    t.equal(first.res.body.commands[0].type, 'REGISTER')
    t.type(first.res.body.next, 'number', 'a next page is announced')
    t.ok(first.timeline <= 1001, `read ${first.timeline} commands`)

    // Following `next` reaches the newest command, each page bounded.
    let after: number | null = first.res.body.next
    let seen = first.res.body.commands.length
    let pages = 1
    let newest: { version: number } | undefined
    while (after !== null) {
      const page = await cost(api, 'GET', `/shipments/LONG/commands?after=${after}&limit=1000`)
      t.ok(page.timeline <= 1001 && page.events === 0, `page ${++pages}: ${page.timeline} rows`)
      seen += page.res.body.commands.length
      newest = page.res.body.commands.at(-1) ?? newest
      after = page.res.body.next
    }
    t.equal(seen, history, 'every command, once')
    t.equal(newest?.version, history, 'the last page ends with the newest command')
    t.equal(pages, Math.ceil(history / 1000))
    const small = await api.request('GET', '/shipments/LONG/commands?limit=2')
    t.equal(small.body.commands.length, 2)
    t.equal((await api.request('GET', '/shipments/NOPE/commands')).status, 404)
    t.equal((await api.request('GET', '/shipments/LONG/commands?limit=1001')).status, 400)
  })

  t.test('a command on the long shipment is still decided (the worker starts from a checkpoint)', async (t) => {
    const res = await api.request('POST', '/shipments/LONG/commands', { type: 'UNASSIGN' }, { authorization: `Bearer ${bootstrapToken}` })
    t.equal(res.status, 200, JSON.stringify(res.body).slice(0, 200))
    t.match(res.body, { shipment: { version: history + 1, state: 'registered' } })
  })
})

t.test('pages of a short history put together are the whole history', async (t) => {
  const api = await startTestService(t, { env: { WAYBILL_MAX_EVENT_LOOP_DELAY_MS: '60000' } })
  t.equal((await api.command('P-1', { type: 'REGISTER' })).status, 201)
  for (let i = 0; i < 6; i++) await api.command('P-1', { type: 'ASSIGN', truckId: `T${i % 2}` })
  t.equal((await api.command('P-1', { type: 'SHIP', truckId: 'x' })).status, 400)
  await api.command('P-1', { type: 'DELIVER' })
  const whole = (await api.request('GET', '/shipments/P-1/events')).body
  t.equal(whole.next, null)
  for (const limit of [1, 2, 3, 7, 8]) {
    const events: unknown[] = []
    let after: number | null = 0
    while (after !== null) {
      const page: { events: unknown[]; next: number | null } = (await api.request('GET', `/shipments/P-1/events?after=${after}&limit=${limit}`)).body
      events.push(...page.events)
      after = page.next
    }
    t.same(events, whole.events, `limit ${limit}`)
  }
  const timeline = (await api.request('GET', '/shipments/P-1/commands')).body
  t.equal(timeline.commands.length, 8, 'accepted and rejected commands alike')
  t.equal(timeline.next, null)
  const byPages: unknown[] = []
  let after: number | null = 0
  while (after !== null) {
    const page: { commands: unknown[]; next: number | null } = (await api.request('GET', `/shipments/P-1/commands?after=${after}&limit=3`)).body
    byPages.push(...page.commands)
    after = page.next
  }
  t.same(byPages, timeline.commands)
})
