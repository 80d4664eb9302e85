import t from 'tap'

// Issue 15, item 9: the page's logic, unit-tested in Node (src/viz/assets/logic.js has no DOM).
// Imported by address: the main TypeScript project does not compile the browser's JavaScript (its
// own check is test/viz/typecheck.test.ts), so the functions are typed here as the page uses them.
interface WindowRange {
  from: number | null
  to: number | null
  label: string
}
type Route = { view: string; [key: string]: unknown }
interface Logic {
  windowRange(choice: { kind: string; from?: string; to?: string }, now: Date): WindowRange
  windowQuery(range: WindowRange): string
  comparable(range: WindowRange, now: number): boolean
  windowProblem(range: WindowRange, now: number): string | null
  parseRoute(hash: string): Route
  routeHash(route: Route): string
  duration(ms: number | null | undefined): string
  percentilesText(p: { samples: number; p50Ms: number | null; p95Ms: number | null }): string
  csv(header: readonly string[], rows: readonly (readonly string[])[]): string
  csvName(what: string, windowLabel: string): string
  comparisonRows(comparison: unknown, hourLabel: (iso: string) => string): Array<{ hour: string; moves: number[]; dwell: Array<number | null> }>
  change(now: number, before: number): string
  reconnectDelay(failures: number): number
  takeTokenFrom(hash: string): { token: string | null; rest: string }
}
const logic = (await import(new URL('../../src/viz/assets/logic.js', import.meta.url).href)) as Logic

t.test('windows: "today" starts at local midnight; each has a label and a query', async (t) => {
  const now = new Date(2026, 2, 29, 15, 30) // local time, a DST Sunday in Europe
  const midnight = new Date(2026, 2, 29).getTime()
  t.same(logic.windowRange({ kind: 'today' }, now), { from: midnight, to: null, label: 'today' })
  t.same(logic.windowRange({ kind: 'yesterday' }, now), { from: new Date(2026, 2, 28).getTime(), to: midnight - 1, label: 'yesterday' })
  t.same(logic.windowRange({ kind: 'week' }, now).from, new Date(2026, 2, 23).getTime(), '7 days: today and the six before')
  t.same(logic.windowRange({ kind: 'hour' }, now), { from: now.getTime() - 3_600_000, to: null, label: 'last hour' })
  t.same(logic.windowRange({ kind: 'month' }, now), { from: new Date(2026, 1, 28).getTime(), to: null, label: 'last 30 days' })
  const custom = logic.windowRange({ kind: 'custom', from: '2026-03-01T08:00', to: '' }, now)
  t.same([custom.from, custom.to], [new Date(2026, 2, 1, 8).getTime(), null])
  t.match(custom.label, / – now$/)
  t.equal(logic.windowQuery({ from: null, to: null, label: '' }), '')
  t.equal(logic.windowQuery({ from: Date.UTC(2026, 0, 1), to: Date.UTC(2026, 0, 2), label: '' }), '?from=2026-01-01T00%3A00%3A00.000Z&to=2026-01-02T00%3A00%3A00.000Z')
  t.ok(logic.comparable(logic.windowRange({ kind: 'today' }, now), now.getTime()))
  t.notOk(logic.comparable(logic.windowRange({ kind: 'month' }, now), now.getTime()), '30 days: too long to compare hour by hour')
  t.notOk(logic.comparable({ from: null, to: null, label: '' }, now.getTime()), 'no start: nothing to compare with')
  t.equal(logic.windowProblem(logic.windowRange({ kind: 'month' }, now), now.getTime()), null)
  t.equal(logic.windowProblem(logic.windowRange({ kind: 'custom', from: '2026-01-01T00:00', to: '' }, now), now.getTime()), 'Choose at most 31 days: the map reads its numbers live.')
  t.equal(logic.windowProblem(logic.windowRange({ kind: 'custom', from: '2026-03-10T00:00', to: '2026-03-09T00:00' }, now), now.getTime()), '“From” is after “to”.')
  t.equal(logic.windowProblem(logic.windowRange({ kind: 'custom', from: '', to: '2026-03-09T00:00' }, now), now.getTime()), 'Choose where the window starts.')
  t.notOk(logic.comparable({ from: 0, to: 8 * 86_400_000, label: '' }, 0), 'more than 7 days')
})

t.test('routes: every place round-trips through the address', async (t) => {
  const places: Route[] = [
    { view: 'overview' },
    { view: 'state', state: 'registered' },
    { view: 'shipment', shipmentId: 'S-1' },
    { view: 'shipment', shipmentId: 'S-1', version: 3 },
    { view: 'rejections', state: 'registered', command: 'DELIVER', reason: 'invalid_transition' },
    { view: 'stuck' },
    { view: 'devices' },
    { view: 'device', deviceId: 'scanner-6' },
    { view: 'operators' },
    { view: 'operator', operatorId: 'Zoë / night shift' },
    { view: 'destinations' },
    { view: 'destination', destination: 'Saint-Étienne' },
    { view: 'destination', destination: null },
    { view: 'destination', destination: '~tilde' },
    { view: 'trucks' },
    { view: 'truck', truckId: 'T03' },
    { view: 'compare' },
    { view: 'report' },
  ]
  for (const place of places) t.same(logic.parseRoute(logic.routeHash(place)), place, `${JSON.stringify(place)} ⇄ ${logic.routeHash(place)}`)
  t.same(logic.parseRoute(''), { view: 'overview' })
  t.same(logic.parseRoute('#/nowhere/at/all'), { view: 'overview' }, 'an unknown place is the overview')
  t.same(logic.parseRoute('#/shipment/%E0%A4%A'), { view: 'shipment', shipmentId: '%E0%A4%A' }, 'a broken escape is taken as it is')
})

t.test('CSV: RFC 4180, what the table shows, readable by spreadsheets', async (t) => {
  const text = logic.csv(['Destination', 'Count'], [['Lyon', '12'], ['Saint-Étienne, Loire', '3'], ['"Quoted" place', '1'], ['two\nlines', '0'], [' padded', '2']])
  t.equal(text, '\uFEFFDestination,Count\r\nLyon,12\r\n"Saint-Étienne, Loire",3\r\n"""Quoted"" place",1\r\n"two\nlines",0\r\n" padded",2\r\n')
  t.equal(logic.csvName('Refused scans', 'last 7 days'), 'waybill-refused-scans-last-7-days.csv')
  t.equal(logic.csvName('Stuck', ''), 'waybill-stuck-all.csv')
})

t.test('words for numbers', async (t) => {
  t.same([logic.duration(null), logic.duration(850), logic.duration(42_000), logic.duration(12 * 60_000), logic.duration(3.4 * 3_600_000), logic.duration(2.1 * 86_400_000)], ['–', '850 ms', '42 s', '12 min', '3.4 h', '2.1 d'])
  t.equal(logic.percentilesText({ samples: 0, p50Ms: null, p95Ms: null }), '–')
  t.equal(logic.percentilesText({ samples: 3, p50Ms: 600_000, p95Ms: 7_200_000 }), 'p50 10 min · p95 2 h')
  t.same([logic.change(5, 3), logic.change(3, 5), logic.change(4, 4)], ['+2', '−2', '±0'])
})

t.test('the comparison as rows: the same hour of the day and the week before beside each hour', async (t) => {
  const hour = (start: string, moves: number, dwellP50Ms: number | null) => ({ start, moves, dwellP50Ms, entered: {} })
  const comparison = {
    series: [
      { name: 'window', hours: [hour('2026-03-02T08:00:00Z', 10, 60_000), hour('2026-03-02T09:00:00Z', 4, null)] },
      { name: 'dayBefore', hours: [hour('2026-03-01T08:00:00Z', 7, 120_000), hour('2026-03-01T09:00:00Z', 0, null)] },
      { name: 'weekBefore', hours: [hour('2026-02-23T08:00:00Z', 1, 30_000)] },
    ],
  }
  t.same(logic.comparisonRows(comparison, (iso) => iso.slice(11, 16)), [
    { hour: '08:00', moves: [10, 7, 1], dwell: [60_000, 120_000, 30_000] },
    { hour: '09:00', moves: [4, 0, 0], dwell: [null, null, null] },
  ])
  t.same(logic.comparisonRows({ series: [] }, String), [], 'no series, no rows')
})

t.test('the event stream: refused reconnections back off, up to 10 s', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 10].map(logic.reconnectDelay), [500, 1000, 2000, 4000, 8000, 10_000, 10_000])
})

t.test('#token= is taken out of the address, the place kept', async (t) => {
  t.same(logic.takeTokenFrom('#token=wb_abc'), { token: 'wb_abc', rest: '' })
  t.same(logic.takeTokenFrom('#/devices&token=wb_abc'), { token: 'wb_abc', rest: '#/devices' })
  t.same(logic.takeTokenFrom('#token=wb%2Babc&/state/registered'), { token: 'wb+abc', rest: '#/state/registered' })
  t.same(logic.takeTokenFrom('#/state/registered'), { token: null, rest: '#/state/registered' })
  t.same(logic.takeTokenFrom('#token='), { token: null, rest: '' })
})
