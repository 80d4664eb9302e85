import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { chromiumPath, openPage } from '../helpers/browser.js'
import { openStorage } from '../../src/storage.js'
import { afternoonZone, offlineDevice, seedReviewDays } from '../helpers/review-day.js'
import { http, startTestService, tempDir } from '../helpers/service.js'

// Issue 15 (and issue 13, item 5) in a real browser: the process map as a review tool, on a seeded
// week (a week ago, yesterday, and today until now: ~470 shipments a day, 6 scanners, 8 operators, 12
// trucks, ~200 refused scans). For every view: the numbers on the page are the API's, every table's CSV
// is the table, the words are plain; the report prints on one A4 page; the sign-in holds across tabs.
// Screenshots of every view go to test-artifacts/review/.
const artifacts = fileURLToPath(new URL('../../test-artifacts/review/', import.meta.url))
const logic = (await import(new URL('../../src/viz/assets/logic.js', import.meta.url).href)) as {
  duration(ms: number | null): string
  percentilesText(p: { samples: number; p50Ms: number | null; p95Ms: number | null }): string
}
const fmt = (n: number) => new Intl.NumberFormat('en-US').format(n)
/** Words a person should never read on the page: code names of guards, events, reasons, states. */
const codeNames = /invalid_transition|already_registered|same_truck|awaiting_departure|truck_full|truck_departed|not_found|isAnotherTruck|notOnOpenTruck|leavesWithThisTruck|noReservations|hasRoom|Shipment(Registered|Shipped|Delivered|Cancelled)|TruckAssigned|TruckUnassigned|TruckDeparted|DEPART_SHIP|\bunregistered\b|\bunopened\b|\batDepot\b/

if (!existsSync(chromiumPath)) {
  const missing = `${chromiumPath} is not installed (Debian: apt-get install chromium): the review views' browser test did not run`
  if (process.env.CI === 'true') t.fail(`${missing}; CI=true requires it`)
  else t.plan(0, missing)
} else {
  t.test('the review views in Chromium, on a seeded week', async (t) => {
    const now = Date.now()
    const zone = afternoonZone(now)
    const dataDir = tempDir(t)
    const seeding = await openStorage({ databaseFile: join(dataDir, 'waybill.db'), databaseUrl: undefined, busyTimeoutMs: 1000, bootstrapToken: undefined })
    await seedReviewDays(seeding.store, zone.midnight, now)
    await seeding.close()
    // The server's clock stands still at the seeded instant: the page's requests and the test's own
    // reads of the API see the same "now" (stuck lists, "today", the day and week before).
    const api = await startTestService(t, { http: true, dataDir, clock: () => now })
    const base = api.service.url!
    const mint = async (role: string) => (await http(base, 'POST', '/admin/tokens', { deviceId: `browser-${role}`, role })).body.token as string
    const reviewer = await mint('reviewer')
    const scanner = await mint('scanner')
    const today = `from=${new Date(zone.midnight).toISOString()}`
    /** The API as the reviewer reads it. */
    const get = async (path: string) => {
      const res = await http(base, 'GET', path, undefined, { authorization: `Bearer ${reviewer}` })
      if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body)}`)
      return res.body
    }

    // A reviewer in the afternoon of the seeded day, wherever the test runs.
    const { browser, context, page, requested, problems } = await openPage(t, { viewport: { width: 1600, height: 1000 }, timezoneId: zone.timezoneId, locale: 'en-US' })
    mkdirSync(artifacts, { recursive: true })
    const shot = (name: string) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true })
    const go = async (hash: string, testid: string) => {
      await page.evaluate(`location.hash = ${JSON.stringify(hash)}`)
      await page.getByTestId(testid).first().waitFor()
    }

    await page.goto(`${base}/viz#token=${reviewer}`)
    await page.locator('#chart[data-stats-at]').waitFor()

    t.test('"Today" is the default window; the overview’s figures are the API’s', async (t) => {
      t.equal(await page.getByTestId('window-today').getAttribute('aria-pressed'), 'true')
      t.equal(await page.getByTestId('window-label').textContent(), 'today')
      await page.getByTestId('overview').waitFor()
      const summary = await get(`/review/summary?${today}`)
      const figure = (name: string) => page.getByTestId('summary').locator(`[data-figure="${name}"] dd`).textContent()
      const entered = (state: string) => summary.shipments.find((s: { state: string }) => s.state === state).entered as number
      t.equal(await figure('Registered'), fmt(entered('registered')))
      t.equal(await figure('Delivered'), fmt(entered('delivered')))
      t.equal(await figure('Shipments known now'), fmt(summary.shipments.reduce((sum: number, s: { now: number }) => sum + s.now, 0)))
      t.equal(await figure('Scans accepted'), fmt(summary.commands.accepted))
      t.equal(await figure('Scans refused'), fmt(summary.commands.rejected))
      t.equal(await figure('Late scans (offline)'), fmt(summary.commands.late))
      t.equal(await figure('Departures'), `${fmt(summary.departures.count)} (${fmt(summary.departures.shipments)} shipments)`)
      t.equal(await figure('Stuck now'), fmt(summary.stuck.total))
      t.equal(await figure('Lead time, registered → delivered'), logic.percentilesText(summary.leadTime), 'how long: lead time p50/p95')
      t.ok(entered('registered') > 100 && summary.commands.rejected > 30 && summary.commands.late > 0 && summary.departures.count > 0, 'a working day so far')
      await shot('overview')
    })

    t.test('both charts carry the API’s numbers; the truck chart sits beside the shipment chart', async (t) => {
      const numbers = (await get(`/viz/numbers.json?${today}`)).machines
      for (const [machine, box] of [['shipment', '#chart'], ['truck', '#truck-chart']] as const) {
        for (const [state, own] of Object.entries(numbers[machine].states as Record<string, { count: number; rejections: number; stuck: number }>)) {
          const group = page.locator(`${box} g.state[data-state="${state}"]`)
          t.equal(await group.getAttribute('data-count'), String(own.count), `${machine} ${state}: ${own.count} now`)
          t.equal(await group.getAttribute('data-rejections'), String(own.rejections), `${machine} ${state}: ${own.rejections} refused`)
          t.equal((await group.getAttribute('class'))?.includes('is-stuck'), own.stuck > 0 && (await group.getAttribute('class'))?.includes('state-compound') === false, `${machine} ${state}: stuck mark`)
        }
        for (const [id, traffic] of Object.entries(numbers[machine].transitions as Record<string, { count: number }>)) {
          t.equal(await page.locator(`${box} g.transition[data-transition="${id}"]`).getAttribute('data-count'), String(traffic.count), `${machine} ${id}: ${traffic.count}`)
        }
      }
      const shipments = (await page.locator('#chart svg').boundingBox())!
      const trucks = (await page.locator('#truck-chart svg').boundingBox())!
      t.ok(trucks.x >= shipments.x + shipments.width - 1, 'beside it, on a wide screen')
    })

    t.test('the truck board: loading or departed, load and capacity, departures today', async (t) => {
      const board = await get(`/review/trucks?${today}`)
      const table = await tableOf(page, 'truck-board')
      t.same(
        table.rows.map((r) => [r[0], r[1], r[2], r[4], r[5]]),
        board.items.map((b: { truckId: string; state: string; load: number; capacity: number; departures: number; shipped: number }) => [b.truckId, b.state, `${b.load} / ${b.capacity}`, String(b.departures), String(b.shipped)]),
      )
      t.ok(board.items.some((b: { departures: number }) => b.departures > 0), 'trucks departed today')
      await expectCsvIsTable(t, page, 'truck-board')
    })

    t.test('a refusals row opens its shipments, devices and operators', async (t) => {
      const numbers = (await get(`/viz/numbers.json?${today}`)).machines.shipment
      const refused = Object.entries(numbers.states as Record<string, { refused: Array<{ command: string; reason: string; count: number }> }>).flatMap(([state, own]) => own.refused.map((r) => ({ state, ...r })))
      const table = await tableOf(page, 'rejections')
      t.same(table.rows.map((r) => Number(r[3])).sort((a, b) => b - a), refused.map((r) => r.count).sort((a, b) => b - a), 'one row per (state, scan, reason), with its count')
      await expectCsvIsTable(t, page, 'rejections')
      const row = refused.find((r) => r.state === 'registered' && r.command === 'DELIVER' && r.reason === 'invalid_transition')!
      t.ok(row, 'deliveries scanned too early were refused today')
      await page.locator(`[data-testid="rejections-table"] a[href="#/rejections/registered/DELIVER/invalid_transition"]`).click()
      await page.getByTestId('rejections-view').waitFor()
      const drill = await get(`/review/rejections?${today}&state=registered&command=DELIVER&reason=invalid_transition&limit=50`)
      t.equal(await page.getByTestId('rejections-title').textContent(), `registered · Deliver · not allowed in this state · ${fmt(drill.total)}`, 'the row, in words')
      t.equal(drill.total, row.count, 'the same number as on the row')
      t.same((await tableOf(page, 'refused-subjects')).rows.map((r) => [r[0], r[1]]), drill.subjects.items.map((s: { id: string; count: number }) => [s.id, String(s.count)]), 'its shipments')
      t.same((await tableOf(page, 'refused-devices')).rows.map((r) => [r[0], r[1]]), drill.devices.map((d: { deviceId: string; count: number }) => [d.deviceId, String(d.count)]), 'its devices')
      t.same((await tableOf(page, 'refused-operators')).rows.map((r) => [r[0], r[1]]), drill.operators.map((o: { operatorId: string | null; count: number }) => [o.operatorId ?? 'not given', String(o.count)]), 'its operators')
      for (const table of ['refused-subjects', 'refused-devices', 'refused-operators']) await expectCsvIsTable(t, page, table)
      await shot('rejections')
    })

    t.test('a state lists its shipments by time in state, with destination and truck, and pages', async (t) => {
      await page.getByTestId('state-registered').click()
      await page.getByTestId('shipment-list').waitFor()
      const first = await get('/review/states/registered/shipments?limit=25')
      t.match(await page.locator('[data-testid="shipment-list"] h3').textContent(), `registered now — ${fmt(first.total)}, longest there first`)
      const table = await tableOf(page, 'shipment-list')
      t.same(table.header, ['Shipment', 'In this state for', 'Since', 'Destination', 'Truck'])
      t.same(table.rows.map((r) => [r[0], r[3], r[4]]), first.items.map((s: { shipmentId: string; destination: string | null; truckId: string | null }) => [s.shipmentId, s.destination ?? '–', s.truckId ?? '–']))
      const ages = first.items.map((s: { forMs: number }) => s.forMs)
      t.same(ages, [...ages].sort((a, b) => b - a), 'longest in the state first')
      if (first.next) {
        await page.getByTestId('more').click()
        const second = await get(`/review/states/registered/shipments?limit=25&cursor=${first.next}`)
        await until('the second page', async () => (await page.locator('[data-testid="shipment-item"]').count()) === first.items.length + second.items.length)
        t.same((await tableOf(page, 'shipment-list')).rows.slice(25).map((r) => r[0]), second.items.map((s: { shipmentId: string }) => s.shipmentId), 'the next page follows')
      }
      await expectCsvIsTable(t, page, 'shipment-list')
      await shot('state-registered')
    })

    t.test('the stuck list shows its total and pages to the end', async (t) => {
      await go('#/stuck', 'stuck-view')
      const first = await get('/review/stuck?limit=50')
      t.equal(await page.getByTestId('stuck-view').getAttribute('data-total'), String(first.total))
      t.ok(first.total > 50, `more than a page (${first.total})`)
      while (await page.getByTestId('more').isVisible()) {
        const before = await page.locator('[data-testid="stuck-row"]').count()
        await page.getByTestId('more').click()
        await until('the next page', async () => (await page.locator('[data-testid="stuck-row"]').count()) > before)
      }
      t.equal(await page.locator('[data-testid="stuck-row"]').count(), first.total, 'every stuck shipment, once')
      await expectCsvIsTable(t, page, 'stuck')
      await shot('stuck')
    })

    t.test('who: per device and per operator, refusals by reason, late scans from the offline handheld', async (t) => {
      await go('#/devices', 'devices-view')
      const devices = await get(`/review/devices?${today}`)
      t.same((await tableOf(page, 'devices')).rows.map((r) => r.slice(0, 5)), devices.items.map((d: { deviceId: string; commands: number; accepted: number; rejected: number; late: number }) => [d.deviceId, d.commands, d.accepted, d.rejected, d.late].map(String)))
      t.ok(devices.items.find((d: { deviceId: string }) => d.deviceId === offlineDevice).late > 0, 'the offline handheld’s late scans')
      await expectCsvIsTable(t, page, 'devices')
      await shot('devices')
      await page.locator('[data-testid="devices-table"] a', { hasText: offlineDevice }).click()
      await page.getByTestId('device-view').waitFor()
      const detail = await get(`/review/devices/${offlineDevice}?${today}&limit=50`)
      const figure = (name: string) => page.getByTestId('device-figures').locator(`[data-figure="${name}"] dd`).textContent()
      t.same([await figure('Scans'), await figure('Refused'), await figure('Late scans')], [fmt(detail.commands), fmt(detail.rejected), fmt(detail.late)])
      const refused = await tableOf(page, 'refused-commands')
      t.same(refused.rows.map((r) => [r[1], r[7]]), detail.refused.items.map((c: { subject: { id: string }; late: boolean }) => [c.subject.id, c.late ? 'late' : '']), 'its refused scans, late ones marked')
      for (const table of ['by-command', 'reasons', 'refused-commands']) await expectCsvIsTable(t, page, table)
      await shot('device')
      await go('#/operators', 'operators-view')
      const operators = await get(`/review/operators?${today}`)
      t.same((await tableOf(page, 'operators')).rows.map((r) => r.slice(0, 5)), operators.items.map((o: { operatorId: string | null; commands: number; accepted: number; rejected: number; late: number }) => [o.operatorId ?? 'not given', o.commands, o.accepted, o.rejected, o.late].map(String)))
      t.equal(operators.items.length, 8, 'eight operators')
      await expectCsvIsTable(t, page, 'operators')
    })

    t.test('where: per destination and per truck', async (t) => {
      await go('#/destinations', 'destinations-view')
      const destinations = await get(`/review/destinations?${today}`)
      t.same(
        (await tableOf(page, 'destinations')).rows.map((r) => [r[0], r[1], r[5], r[6], r[8]]),
        destinations.items.map((d: { destination: string | null; now: { registered: number }; entered: { delivered: number }; leadTime: { p50Ms: number | null }; rejected: number }) => [
          d.destination ?? 'none given',
          String(d.now.registered),
          String(d.entered.delivered),
          logic.duration(d.leadTime.p50Ms),
          String(d.rejected),
        ]),
      )
      await expectCsvIsTable(t, page, 'destinations')
      await shot('destinations')
      await page.locator('[data-testid="destinations-table"] a', { hasText: 'Lyon' }).click()
      await page.getByTestId('destination-view').waitFor()
      const waiting = await get('/review/states/registered/shipments?destination=Lyon&limit=25')
      t.same((await page.getByTestId('in-state-registered').locator('tbody tr td:first-child').allTextContents()), waiting.items.map((s: { shipmentId: string }) => s.shipmentId), 'Lyon’s shipments waiting, longest first')
      await go('#/truck/T03', 'truck-view')
      const truck = await get(`/review/trucks/T03?${today}`)
      t.same((await tableOf(page, 'departures')).rows.map((r) => r[1]), truck.departures.map((d: { load: number }) => String(d.load)), 'its departures today')
      t.same((await tableOf(page, 'manifest')).rows.map((r) => r[0]), truck.manifest.map((s: { shipmentId: string }) => s.shipmentId))
      await shot('truck')
    })

    t.test('compared with the day and the week before, hour by hour', async (t) => {
      await go('#/compare', 'compare-view')
      await page.getByTestId('compare-totals').waitFor()
      const comparison = await get(`/review/compare?${today}`)
      const [window, day, week] = comparison.series
      const totals = await tableOf(page, 'compare-totals')
      t.same(totals.rows.slice(0, 5).map((r) => r.slice(1, 4)), ['registered', 'assigned', 'shipped', 'delivered', 'cancelled'].map((s) => [window.entered[s], day.entered[s], week.entered[s]].map(String)))
      t.ok(day.entered.registered > 0 && week.entered.registered > 0, 'yesterday and a week ago are there')
      const hours = await tableOf(page, 'compare-hours')
      t.equal(hours.rows.length, window.hours.length, 'one row per hour')
      t.same(hours.rows.map((r) => r.slice(1, 4)), window.hours.map((h: { moves: number }, i: number) => [h.moves, day.hours[i].moves, week.hours[i].moves].map(String)))
      for (const table of ['compare-totals', 'compare-hours']) await expectCsvIsTable(t, page, table)
      await shot('compare')
    })

    t.test("a shipment's timeline shows the departure that shipped it", async (t) => {
      const board = await get(`/review/trucks/T05?${today}`)
      const departure = board.departures[board.departures.length - 1]
      t.ok(departure, 'T05 left today')
      const candidates = await get('/review/states/shipped/shipments?limit=200&order=latest')
      const shipped = candidates.items.find((s: { truckId: string | null }) => s.truckId === 'T05') ?? candidates.items.find((s: { truckId: string | null }) => s.truckId?.startsWith('T'))
      const review = await get(`/review/shipments/${shipped.shipmentId}`)
      t.ok(review.departure, `${shipped.shipmentId} left with a truck's departure`)
      await go(`#/shipment/${shipped.shipmentId}`, 'shipment-view')
      const entry = page.locator('[data-testid="timeline-entry"][data-command="DEPART_SHIP"]')
      t.equal(await entry.count(), 1, 'the departure is on the timeline')
      t.match(await entry.getByTestId('departure').textContent(), `Shipped by truck ${review.departure.truckId}'s departure`)
      t.match(await entry.getByTestId('departure').textContent(), `${review.departure.load} shipment`)
      t.match(await entry.getByTestId('departure').textContent(), `sent by ${review.departure.deviceId}`)
      t.match(await page.getByTestId('shipped-by').textContent(), `truck ${review.departure.truckId}`)
      t.match(await page.getByTestId('edge-assigned:DEPART_SHIP').getAttribute('class'), /on-path/, 'its path on the chart takes the departure')
      await shot('shipment-departure')
    })

    t.test('plain language: the page speaks in words; the legend explains every mark', async (t) => {
      const seen: string[] = []
      for (const [hash, testid] of [['#/', 'overview'], ['#/state/assigned', 'state-panel'], ['#/devices', 'devices-view'], ['#/trucks', 'trucks-view'], ['#/rejections/assigned/SHIP/awaiting_departure', 'rejections-view']] as const) {
        await go(hash, testid)
        seen.push((await page.getByTestId('panel').textContent()) ?? '')
      }
      seen.push(...(await page.locator('#chart svg text, #truck-chart svg text').allTextContents()))
      const found = seen.join('\n').match(codeNames)
      t.equal(found, null, `no code name on the page${found ? ` (found “${found[0]}”)` : ''}`)
      await go('#/', 'overview')
      const legend = await page.getByTestId('legend').locator('li').allTextContents()
      t.ok(legend.some((l) => /Dashed orange border: .*stuck/.test(l)), 'the dashed stuck border is explained')
      t.ok(legend.some((l) => /Dotted purple arrow: a message between a shipment and its truck/.test(l)), 'so are the messages between actors')
      t.equal(legend.length, 9, 'every mark')
    })

    t.test('the daily report prints on one A4 page, the chart with its numbers', async (t) => {
      await go('#/report', 'report')
      await page.getByTestId('report-chart').locator('svg').waitFor()
      const numbers = (await get(`/viz/numbers.json?${today}`)).machines.shipment
      for (const [state, own] of Object.entries(numbers.states as Record<string, { count: number }>)) {
        t.equal(await page.getByTestId('report-chart').locator(`[data-testid="count-${state}"]`).textContent(), String(own.count), `${state} on the report`)
      }
      t.equal(await page.getByTestId('report-chart').locator('[data-testid="legend"] [data-mark]').count(), 9, 'with its legend')
      await shot('report')
      const pdf = await page.pdf({ format: 'A4', printBackground: true })
      writeFileSync(join(artifacts, 'report.pdf'), pdf)
      const pages = pdf.toString('latin1').match(/\/Type\s*\/Page[^s]/g) ?? []
      t.equal(pages.length, 1, 'one A4 page')
    })

    t.test('the SVG download carries the window’s numbers', async (t) => {
      await go('#/', 'overview')
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-truck-svg').click()])
      const svg = readFileSync(await download.path(), 'utf8')
      const numbers = (await get(`/viz/numbers.json?${today}`)).machines.truck
      for (const [id, traffic] of Object.entries(numbers.transitions as Record<string, { count: number }>)) t.match(svg, new RegExp(`data-testid="traffic-${id}"[^>]*> · ${traffic.count}<`), `${id}: ${traffic.count} today`)
      t.match(svg, 'data-testid="legend"')
    })

    t.test('sign-in that fits a reviewer’s day: new tabs, sign-out, #token= on an open page, a scanner told plainly', async (t) => {
      const second = await context.newPage()
      await second.goto(`${base}/viz`)
      await second.locator('#chart[data-stats-at]').waitFor()
      t.notOk(await second.getByTestId('sign-in').isVisible(), 'a new tab opens signed in, no token needed')
      await second.getByTestId('sign-out').click()
      await second.getByTestId('sign-in-message').filter({ hasText: 'Signed out.' }).waitFor()
      // The first tab finds out at its next read.
      await page.getByTestId('window-yesterday').click()
      await page.getByTestId('sign-in-message').filter({ hasText: 'session has ended' }).waitFor()
      t.same(await context.cookies(), [], 'the session cookie is gone')
      // A token added to the address of the open page signs in again, without a reload.
      await page.evaluate(`location.hash = ${JSON.stringify(`#token=${reviewer}`)}`)
      await page.locator('#chart[data-stats-at]').waitFor()
      t.notMatch(page.url(), reviewer, 'the token left the address')
      await second.reload()
      await second.locator('#chart[data-stats-at]').waitFor()
      t.pass('…and the other tab is signed in again too')
      await second.close()
      // A scanner's token: told in words, no session.
      const elsewhere = await browser.newContext({ timezoneId: zone.timezoneId })
      t.teardown(() => elsewhere.close())
      const tab = await elsewhere.newPage()
      await tab.goto(`${base}/viz#token=${scanner}`)
      await tab.getByTestId('sign-in-message').filter({ hasText: 'cannot open the process map' }).waitFor()
      t.match(await tab.getByTestId('sign-in-message').textContent(), /scanner's token: it can send scans but cannot open the process map; ask an administrator for a reviewer token/)
      t.same(await elsewhere.cookies(), [])
      await tab.screenshot({ path: join(artifacts, 'scanner-refused.png') })
    })

    t.test('nothing leaves the origin; no errors in the page', async (t) => {
      const origin = new URL(base).origin
      t.same(requested.filter((url) => new URL(url).origin !== origin), [], 'every request goes to the service itself')
      t.same(problems.filter((p) => !/status of 401/.test(p)), [], 'no page error (the 401s after signing out are expected)')
    })
  })
}

/** A table as the reader sees it: header and cell texts. */
async function tableOf(page: Page, testid: string): Promise<{ header: string[]; rows: string[][] }> {
  const table = page.getByTestId(`${testid}-table`)
  const header = await table.locator('thead th').allTextContents()
  const rows = await table.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')))
  return { header, rows }
}

/** The table's CSV download equals the table, header and every cell. */
async function expectCsvIsTable(t: Test, page: Page, testid: string): Promise<void> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId(`${testid}-csv`).click()])
  const text = readFileSync(await download.path(), 'utf8')
  t.ok(text.startsWith('\uFEFF'), `${testid}.csv: UTF-8 with a byte order mark`)
  const { header, rows } = await tableOf(page, testid)
  t.same(parseCsv(text.slice(1)), [header, ...rows], `${testid}: the CSV is the table (${rows.length} rows)`)
  t.match(download.suggestedFilename(), /^waybill-[a-z0-9-]+\.csv$/)
}

/** RFC 4180, for the test's own reading (quoted fields, doubled quotes, CRLF). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++
      else if (c === '"') quoted = false
      else field += c
    } else if (c === '"') quoted = true
    else if (c === ',') row.push(field), (field = '')
    else if (c === '\r' && text[i + 1] === '\n') row.push(field), rows.push(row), (row = []), (field = ''), i++
    else field += c
  }
  return rows
}

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
