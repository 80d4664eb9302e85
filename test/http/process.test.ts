import { request } from 'node:http'
import t from 'tap'
import { shipmentChart } from '../../machines/shipment/index.js'
import { bootstrapToken, eventually, http, startTestService } from '../helpers/service.js'

/** Opens the SSE stream and collects parsed messages. */
function stream(base: string, headers: Record<string, string> = {}, query = '') {
  const messages: Array<{ id?: string; event?: string; data: any }> = []
  let buffer = ''
  const url = new URL(`/events/stream${query}`, base)
  const req = request(url, { headers: { authorization: `Bearer ${bootstrapToken}`, accept: 'text/event-stream', ...headers } })
  const response = new Promise<{ status: number; type: string }>((resolve) => {
    req.on('response', (res) => {
      resolve({ status: res.statusCode!, type: String(res.headers['content-type']) })
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buffer += chunk
        let end
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const fields = Object.fromEntries(block.split('\n').filter((l) => l && !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]))
          if (fields.data !== undefined) messages.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data) })
        }
      })
    })
  })
  req.end()
  return { messages, response, close: () => req.destroy() }
}

t.test('process map data', async (t) => {
  const api = await startTestService(t, { http: true })
  const base = api.service.url!

  t.test('GET /machines/shipment is the chart', async (t) => {
    const res = await http(base, 'GET', '/machines/shipment')
    t.equal(res.status, 200)
    t.same(res.body, JSON.parse(JSON.stringify(shipmentChart)))
    t.equal(res.body.states.length, shipmentChart.states.length)
    t.equal(res.body.transitions.length, 8, 'REGISTER, CANCEL, ASSIGN, reassign, UNASSIGN, SHIP, a departure’s DEPART_SHIP, DELIVER')
  })

  t.test('the event stream: live, resumable, heartbeat-capable', async (t) => {
    const live = stream(base)
    t.match(await live.response, { status: 200, type: /text\/event-stream/ })
    await eventually(() => live.messages.find((m) => m.event === 'ready'))
    await http(base, 'POST', '/shipments/SSE-1/commands', { type: 'REGISTER' })
    await http(base, 'POST', '/shipments/SSE-1/commands', { type: 'ASSIGN', truckId: 'T1' })
    const got = await eventually(() => (live.messages.filter((m) => m.event === 'event').length >= 2 ? live.messages.filter((m) => m.event === 'event') : undefined), 5000, 'two live events')
    t.same(got.map((m) => m.data.type), ['ShipmentRegistered', 'TruckAssigned'])
    t.equal(got[0]!.id, String(got[0]!.data.position), 'id = position')
    live.close()

    // Reconnect after the first event: only what came after it.
    await http(base, 'POST', '/shipments/SSE-1/commands', { type: 'SHIP' })
    const resumed = stream(base, { 'last-event-id': got[0]!.id! })
    const after = await eventually(() => (resumed.messages.filter((m) => m.event === 'event').length >= 2 ? resumed.messages.filter((m) => m.event === 'event') : undefined))
    t.same(after.map((m) => m.data.type), ['TruckAssigned', 'ShipmentShipped'])
    resumed.close()

    const fromQuery = stream(base, {}, '?after=0')
    await eventually(() => (fromQuery.messages.filter((m) => m.event === 'event').length >= 3 ? true : undefined))
    fromQuery.close()
    t.pass('?after=0 replays from the start')
    const refused = await http(base, 'GET', '/events/stream', undefined, { accept: 'application/json' })
    t.equal(refused.status, 406, 'a client that refuses event streams is told so')
    t.match(refused.body, { type: '/problems/not-acceptable', status: 406 }, 'as problem+json')
  })

  t.test("a shipment's timeline shows accepted and rejected commands, with who and why", async (t) => {
    await http(base, 'POST', '/shipments/TL-1/commands', { type: 'REGISTER', operatorId: 'op-3', scannedAt: '2026-11-27T09:00:00Z' })
    await http(base, 'POST', '/shipments/TL-1/commands', { type: 'DELIVER' })
    const res = await http(base, 'GET', '/shipments/TL-1/commands')
    t.match(res.body, {
      shipmentId: 'TL-1',
      commands: [
        { type: 'REGISTER', outcome: 'accepted', state: 'unregistered', version: 1, deviceId: 'bootstrap', operatorId: 'op-3', scannedAt: '2026-11-27T09:00:00Z' },
        { type: 'DELIVER', outcome: 'rejected', reason: 'invalid_transition', detail: 'cannot DELIVER a shipment that is registered', state: 'registered' },
      ],
    })
    t.equal((await http(base, 'GET', '/shipments/NOBODY/commands')).status, 404)
  })

  t.test('GET /stats', async (t) => {
    const res = await http(base, 'GET', '/stats')
    t.equal(res.status, 200)
    t.match(res.body.states.find((s: { state: string }) => s.state === 'registered'), { count: 1 })
    t.match(res.body.transitions.find((tr: { id: string }) => tr.id === 'unregistered:REGISTER'), { count: 2 })
    t.match(res.body.rejections, [{ state: 'registered', command: 'DELIVER', reason: 'invalid_transition', count: 1 }])
    const empty = await http(base, 'GET', '/stats?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z')
    t.ok(empty.body.transitions.every((tr: { count: number }) => tr.count === 0), 'a window with nothing in it')
    t.equal((await http(base, 'GET', '/stats?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z')).status, 400)
    t.equal((await http(base, 'GET', '/stats?from=yesterday')).status, 400)
  })
})

t.test('the process map reads', async (t) => {
  const api = await startTestService(t, { http: true })
  const base = api.service.url!

  t.test('the ready message carries its resume point as id, and a one-second retry (EventSource resumes from it)', async (t) => {
    await http(base, 'POST', '/shipments/RDY-1/commands', { type: 'REGISTER' })
    const head = (await http(base, 'GET', '/events?limit=1000')).body.last as number
    const raw = await new Promise<string>((resolve, reject) => {
      const req = request(new URL('/events/stream', base), { headers: { authorization: `Bearer ${bootstrapToken}`, accept: 'text/event-stream' } }, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          text += chunk
          if (text.includes('\n\n')) {
            resolve(text)
            req.destroy()
          }
        })
      })
      req.on('error', reject)
      req.end()
    })
    t.match(raw, new RegExp(`^id: ${head}\\nevent: ready\\ndata: \\{"after":${head}\\}\\nretry: 1000\\n\\n`))
  })

  t.test("/stats counts a scanner's refused ASSIGN once — not also its truck's refused LOAD, a message", async (t) => {
    t.equal((await http(base, 'POST', '/trucks/SMALL/commands', { type: 'OPEN', capacity: 1 })).status, 201)
    for (const id of ['FULL-1', 'FULL-2']) await http(base, 'POST', `/shipments/${id}/commands`, { type: 'REGISTER' })
    t.equal((await http(base, 'POST', '/shipments/FULL-1/commands', { type: 'ASSIGN', truckId: 'SMALL' })).status, 200)
    const refused = await http(base, 'POST', '/shipments/FULL-2/commands', { type: 'ASSIGN', truckId: 'SMALL' })
    t.match(refused.body, { status: 409, reason: 'truck_full' })
    // The inbox holds both refusals: the scanner's ASSIGN and the truck's LOAD (the negative control).
    const inbox = await api.service.storage.store.sql.all<{ type: string }>("SELECT type FROM commands WHERE status = 'rejected' AND reason = 'truck_full' ORDER BY type")
    t.same(inbox.map((r) => r.type), ['ASSIGN', 'LOAD'])
    const stats = (await http(base, 'GET', '/stats')).body
    t.same(stats.rejections.filter((r: { reason: string }) => r.reason === 'truck_full'), [{ state: 'registered', command: 'ASSIGN', reason: 'truck_full', count: 1 }])
    t.notOk(stats.rejections.some((r: { state: string }) => r.state === 'loading'), "a truck's state is not on the shipment chart's numbers")
  })
})
