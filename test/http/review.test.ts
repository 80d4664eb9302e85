import { join } from 'node:path'
import t from 'tap'
import { shipmentChart } from '../../machines/shipment/index.js'
import { truckChart } from '../../machines/truck/index.js'
import { ProcessStats } from '../../src/projections/process-stats.js'
import { ReviewQueries } from '../../src/projections/review-queries.js'
import { openStorage } from '../../src/storage.js'
import { chartNumbers } from '../../src/viz/numbers.js'
import { afternoonZone, seedReviewDays } from '../helpers/review-day.js'
import { startTestService, tempDir } from '../helpers/service.js'

// The review routes (docs/api.md *Review*) on a seeded week: who may read them, that each answers what
// its read model holds (the response schema drops nothing), and what they refuse.
const now = Date.now()
const { midnight } = afternoonZone(now)

t.test('the review routes', async (t) => {
  const dataDir = tempDir(t)
  const seeding = await openStorage({ databaseFile: join(dataDir, 'waybill.db'), databaseUrl: undefined, busyTimeoutMs: 1000, bootstrapToken: undefined })
  await seedReviewDays(seeding.store, midnight, now, { shipments: 80 })
  await seeding.close()
  // The server's clock stands still at the seeded instant: "stuck now" and every window's `now` are
  // the same instant for the routes and the direct reads, however long the test runs.
  const api = await startTestService(t, { dataDir, clock: () => now })
  const mint = async (role: string) => (await api.request('POST', '/admin/tokens', { deviceId: `review-${role}`, role })).body.token as string
  const tokens = { scanner: await mint('scanner'), reviewer: await mint('reviewer') }
  const as = (who: 'none' | keyof typeof tokens, url: string) => api.request('GET', url, undefined, { authorization: who === 'none' ? '' : `Bearer ${tokens[who]}` })
  const review = new ReviewQueries(api.service.storage.store)
  // The window is given whole: a `to` left to each request would be a later one than the direct reads',
  // and the day and week before it (compare) would take in seeded steps the direct read does not.
  const today = { from: midnight, to: now }
  const q = `from=${new Date(today.from).toISOString()}&to=${new Date(today.to).toISOString()}`
  const json = (value: unknown) => JSON.parse(JSON.stringify(value))

  const routes = [
    `/review/summary?${q}`,
    `/review/rejections?${q}&state=registered&command=DELIVER&reason=invalid_transition`,
    '/review/states/registered/shipments',
    '/review/stuck',
    `/review/devices?${q}`,
    `/review/devices/scanner-6?${q}`,
    `/review/operators?${q}`,
    `/review/operators/op-1?${q}`,
    `/review/destinations?${q}`,
    `/review/trucks?${q}`,
    `/review/trucks/T03?${q}`,
    `/review/compare?${q}`,
    '/review/shipments/S-10',
    `/viz/numbers.json?${q}`,
    '/viz/glossary.json',
    '/viz/chart.svg?machine=truck',
    `/viz/chart.svg?numbers=true&${q}`,
    '/viz/layout.json?machine=truck',
    '/viz/chart.mmd?machine=truck',
  ]

  t.test('reviewers and admins only', async (t) => {
    for (const url of routes) {
      t.equal((await as('none', url)).status, 401, `${url} without a token`)
      t.equal((await as('scanner', url)).status, 403, `${url} as a scanner`)
      t.equal((await as('reviewer', url)).status, 200, `${url} as a reviewer`)
    }
  })

  t.test('each answers what its read model holds, field for field', async (t) => {
    // The server's clock stands still, so even what moves with it (time in state) is compared.
    t.same(json((await as('reviewer', `/review/summary?${q}`)).body), json(await review.summary(today, api.config.stuckAfterMs, now)))
    t.same(
      json((await as('reviewer', `/review/rejections?${q}&state=registered&command=DELIVER&reason=invalid_transition&limit=5`)).body),
      json(await review.rejections({ state: 'registered', command: 'DELIVER', reason: 'invalid_transition' }, today, { limit: 5 })),
      'the refusals of a row',
    )
    t.same(json((await as('reviewer', '/review/states/delivered/shipments?order=latest&limit=5')).body), json(await review.stateShipments('delivered', { order: 'latest', limit: 5 }, now)))
    t.same(json((await as('reviewer', '/review/stuck?limit=5')).body), json(await review.stuck(api.config.stuckAfterMs, now, { limit: 5 })))
    t.same((await as('reviewer', `/review/devices?${q}`)).body.items, json((await review.who('device', today)).map(({ id, ...r }) => ({ deviceId: id, ...r }))))
    t.same((await as('reviewer', `/review/operators?${q}`)).body.items, json((await review.who('operator', today)).map(({ id, ...r }) => ({ operatorId: id, ...r }))))
    t.same(json((await as('reviewer', `/review/devices/scanner-6?${q}&limit=5`)).body), json({ deviceId: 'scanner-6', ...(await review.whoDetail('device', 'scanner-6', today, { limit: 5 })) }))
    t.same(json((await as('reviewer', `/review/destinations?${q}`)).body), json(await review.destinations(today)))
    t.same(json((await as('reviewer', `/review/trucks?${q}`)).body), json(await review.truckBoard(today)))
    t.same(json((await as('reviewer', `/review/trucks/T03?${q}`)).body), json(await review.truck('T03', today)))
    const compared = (await as('reviewer', `/review/compare?${q}`)).body
    t.equal(compared.window.to, new Date(today.to).toISOString(), 'the route reads the window given, `to` too')
    t.same(json(compared), json(await review.compare(today)))
    t.same((await as('reviewer', '/review/shipments/S-10')).body, json(await review.shipment('S-10')))
    const numbers = (await as('reviewer', `/viz/numbers.json?${q}`)).body
    const stats = await new ProcessStats(api.service.storage.store.sql).read(today, api.config.stuckAfterMs, now)
    t.same(numbers.machines.shipment, json(chartNumbers(shipmentChart, stats)), 'the shipment chart: /stats, element by element')
    t.same(numbers.machines.truck, json(chartNumbers(truckChart, await review.truckNumbers(today))), 'the truck chart')
    t.ok(numbers.machines.shipment.states.atDepot.count > 0, 'something at the depot today')
  })

  t.test('the window, cursors and limits are checked', async (t) => {
    t.equal((await as('reviewer', '/review/devices?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z')).status, 400, '`from` after `to`')
    t.equal((await as('reviewer', '/review/stuck?cursor=bm90LWEtY3Vyc29y')).status, 400, 'a cursor the service did not make')
    t.equal((await as('reviewer', '/review/compare?from=2026-01-01T00:00:00Z&to=2026-01-09T00:00:00Z')).status, 400, 'a comparison of more than 7 days')
    t.equal((await as('reviewer', '/review/compare')).status, 400, 'a comparison needs a start')
    const long = await as('reviewer', '/review/devices?from=2026-01-01T00:00:00Z&to=2026-02-15T00:00:00Z')
    t.equal(long.status, 400, 'a window of more than 31 days: a year of history is never read in one request')
    t.match(long.body.detail, /at most 31 days/)
    t.equal((await as('reviewer', '/viz/numbers.json?from=2000-01-01T00:00:00Z')).status, 400, 'the charts’ numbers too')
    t.equal((await as('reviewer', '/review/devices?from=2026-01-01T00:00:00Z&to=2026-01-31T23:59:59Z')).status, 200, '31 days is fine')
    const { window: lastDay } = (await as('reviewer', '/review/summary')).body
    t.equal(Date.parse(lastDay.to) - Date.parse(lastDay.from), 86_400_000, 'without `from`: the last 24 hours')
    t.equal((await as('reviewer', '/stats?from=2000-01-01T00:00:00Z')).status, 200, '/stats (v1) keeps its unbounded window')
    t.equal((await as('reviewer', '/review/states/nowhere/shipments')).status, 400, 'a state the chart does not have')
    t.equal((await as('reviewer', '/review/states/registered/shipments?destination=Lyon&noDestination=true')).status, 400)
    t.equal((await as('reviewer', '/review/trucks/NOPE')).status, 404)
    t.equal((await as('reviewer', '/review/shipments/NOPE')).status, 404)
    t.equal((await as('reviewer', '/viz/chart.svg?machine=plane')).status, 400)
  })

  t.test('the SVG with numbers carries the window’s numbers and a legend; the bare one does not', async (t) => {
    const numbers = (await as('reviewer', `/viz/numbers.json?${q}`)).body.machines.shipment
    const svg = (await as('reviewer', `/viz/chart.svg?numbers=true&${q}`))
    t.match(svg.headers['content-disposition'], `filename="shipment-v${shipmentChart.version}-numbers.svg"`)
    for (const [state, own] of Object.entries(numbers.states as Record<string, { count: number }>)) t.match(svg.body, new RegExp(`data-testid="count-${state}"[^>]*>${own.count}<`), `${state}: ${own.count}`)
    t.match(svg.body, 'data-testid="legend"')
    t.notMatch((await as('reviewer', '/viz/chart.svg')).body, 'data-testid="legend"')
  })
})
