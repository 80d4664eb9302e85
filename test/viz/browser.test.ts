import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { chromiumPath, openPage } from '../helpers/browser.js'
import { afternoonZone } from '../helpers/review-day.js'
import { writeHistory } from '../helpers/long-history.js'
import { bootstrapToken, http, startTestService } from '../helpers/service.js'

// The process map in a real browser (Debian's Chromium, never a downloaded one) against a real
// service (HTTP, worker, Redis, SQLite): the page draws the machines' charts, shows the numbers of
// /stats, follows the event stream live, lists a state's shipments, shows a shipment's history with
// its refused commands and steps through it, switches the time window, downloads the chart, and
// never talks to another origin. The review views on a seeded day: test/viz/review-browser.test.ts.
// WAYBILL_TEST_CHROMIUM points elsewhere (e.g. to check that a missing browser fails under CI).
const artifacts = fileURLToPath(new URL('../../test-artifacts/', import.meta.url))

if (!existsSync(chromiumPath)) {
  const missing = `${chromiumPath} is not installed (Debian: apt-get install chromium): the process map's browser test did not run`
  // On a developer's machine a missing browser skips the test (said so); in CI it is a failure,
  // never a quiet pass (.ci/run sets CI=true and installs chromium).
  if (process.env.CI === 'true') t.fail(`${missing}; CI=true requires it`)
  else t.plan(0, missing)
} else {
  t.test('the process map in Chromium', async (t) => {
    const api = await startTestService(t, { http: true })
    const base = api.service.url!
    const send = async (id: string, body: Record<string, unknown>, expected: number) => {
      const res = await http(base, 'POST', `/shipments/${id}/commands`, body)
      if (res.status !== expected) throw new Error(`${body.type} ${id}: ${res.status} ${JSON.stringify(res.body)}`)
    }
    // Some history before the page opens: a delivered, a registered one refused delivery, a
    // reassigned one refused the same truck, a cancelled one.
    await send('DONE-1', { type: 'REGISTER', origin: 'Depot A', destination: 'Lyon' }, 201)
    await send('DONE-1', { type: 'ASSIGN', truckId: 'T1' }, 200)
    await send('DONE-1', { type: 'SHIP' }, 200)
    await send('DONE-1', { type: 'DELIVER' }, 200)
    await send('WAIT-1', { type: 'REGISTER', operatorId: 'op-7', scannedAt: '2026-11-27T09:00:00Z' }, 201)
    await send('WAIT-1', { type: 'DELIVER', operatorId: 'op-7' }, 409)
    await send('MOVE-1', { type: 'REGISTER' }, 201)
    await send('MOVE-1', { type: 'ASSIGN', truckId: 'T1' }, 200)
    await send('MOVE-1', { type: 'ASSIGN', truckId: 'T2' }, 200)
    await send('MOVE-1', { type: 'ASSIGN', truckId: 'T2' }, 409)
    await send('GONE-1', { type: 'REGISTER' }, 201)
    await send('GONE-1', { type: 'CANCEL' }, 200)
    const chart = (await http(base, 'GET', '/machines/shipment')).body as {
      states: Array<{ id: string }>
      transitions: Array<{ id: string }>
    }

    // A reader in the afternoon wherever the test runs: "Today" cannot start anew during the test.
    const zone = afternoonZone(Date.now())
    const { browser, context, page, requested, problems } = await openPage(t, { viewport: { width: 1280, height: 800 }, timezoneId: zone.timezoneId })
    /** The UTC hour (`YYYY-MM-DDTHH`) of a local time the reader types, in the reader's zone. */
    const utcHourOf = (local: string) => new Date(Date.parse(`${local}:00Z`) - zone.offsetHours * 3_600_000).toISOString().slice(0, 13)

    await page.goto(`${base}/viz#token=${bootstrapToken}`)
    await page.locator('#chart[data-stats-at]').waitFor()
    // The page opens on "Today": its numbers are /stats from the reader's midnight.
    const statsToday = async () => {
      const midnight = (await page.evaluate('new Date(new Date().setHours(0, 0, 0, 0)).toISOString()')) as string
      return (await http(base, 'GET', `/stats?from=${encodeURIComponent(midnight)}`)).body
    }

    t.test('the token leaves the address bar for a session cookie the page cannot read', async (t) => {
      t.notMatch(page.url(), bootstrapToken)
      t.equal(await page.evaluate("sessionStorage.length + localStorage.length"), 0, 'the token is stored nowhere the page can read')
      t.equal(await page.evaluate('document.cookie'), '', 'HttpOnly: no script reads the session')
      const [cookie] = await context.cookies()
      t.match(cookie, { name: 'waybill_session', httpOnly: true, sameSite: 'Strict', path: '/' })
      t.not(cookie?.value, bootstrapToken)
    })

    t.test('the truck chart beside the shipment chart, each state and transition once', async (t) => {
      const trucks = (await http(base, 'GET', '/machines/truck')).body as { states: Array<{ id: string }>; transitions: Array<{ id: string }> }
      t.same((await page.locator('#truck-chart g.state').evaluateAll((groups) => groups.map((g) => g.getAttribute('data-state')))).sort(), trucks.states.map((s) => s.id).sort())
      t.same((await page.locator('#truck-chart g.transition').evaluateAll((groups) => groups.map((g) => g.getAttribute('data-transition')))).sort(), trucks.transitions.map((tr) => tr.id).sort())
      const [shipments, truck] = [await page.locator('#chart svg').boundingBox(), await page.locator('#truck-chart svg').boundingBox()]
      t.ok(shipments && truck && truck.width > 0 && truck.height > 0, 'both drawn')
    })

    t.test('one node per state and one edge per transition, from the machine', async (t) => {
      const drawn = {
        states: await page.locator('#chart g.state').evaluateAll((groups) => groups.map((g) => g.getAttribute('data-state'))),
        transitions: await page.locator('#chart g.transition').evaluateAll((groups) => groups.map((g) => g.getAttribute('data-transition'))),
      }
      t.same(drawn.states.sort(), chart.states.map((s) => s.id).sort())
      t.same(drawn.transitions.sort(), chart.transitions.map((tr) => tr.id).sort())
      for (const state of chart.states) t.equal(await page.getByTestId(`state-${state.id}`).count(), 1, `state-${state.id}`)
      for (const transition of chart.transitions) t.equal(await page.getByTestId(`edge-${transition.id}`).count(), 1, `edge-${transition.id}`)
    })

    t.test('the numbers on the chart are those of /stats', async (t) => {
      await expectNumbersOf(t, page, await statsToday())
      t.equal(await page.getByTestId('rejections-assigned').getAttribute('visibility'), 'visible', 'a red badge where commands were refused')
      t.equal(await page.getByTestId('rejections-shipped').getAttribute('visibility'), 'hidden')
    })

    t.test('a command sent now shows up without reloading', async (t) => {
      const before = Number(await page.getByTestId('count-assigned').textContent())
      const traffic = Number(await page.getByTestId('edge-registered:ASSIGN').getAttribute('data-count'))
      const svg = await page.locator('#chart svg').elementHandle()
      await send('LIVE-1', { type: 'REGISTER' }, 201)
      await send('LIVE-1', { type: 'ASSIGN', truckId: 'T9' }, 200)
      await until('the new count', async () => (await page.getByTestId('count-assigned').textContent()) === String(before + 1))
      t.equal(Number(await page.getByTestId('edge-registered:ASSIGN').getAttribute('data-count')), traffic + 1, 'the edge counts the new traffic')
      t.ok(await svg!.evaluate((node) => node.isConnected), 'the chart was updated in place, not redrawn')
      await expectNumbersOf(t, page, await statsToday())
      t.equal(await page.getByTestId('live').getAttribute('data-status'), 'live')
    })

    t.test('the stream reconnects after a drop and resumes after the last event seen', async (t) => {
      // Hold the page's next stream request until an event has happened that it did not see. The
      // browser's EventSource adds Last-Event-ID below the layer Playwright intercepts, so what it
      // asked for is read where the service receives it.
      let release = () => {}
      const held = new Promise<void>((resolve) => (release = resolve))
      let attempts = 0
      const received: Array<string | undefined> = []
      const server = api.service.app!.server
      const onRequest = (request: IncomingMessage) => {
        if (request.url?.startsWith('/events/stream')) received.push(request.headers['last-event-id'] as string | undefined)
      }
      server.on('request', onRequest)
      await page.route('**/events/stream*', async (route) => {
        attempts++
        await held
        await route.continue()
      })
      try {
        const lastPosition = (await http(base, 'GET', '/events?limit=1000')).body.last as number
        const before = Number(await page.getByTestId('count-registered').textContent())
        server.closeAllConnections()
        await until('the page to notice the drop', async () => (await page.getByTestId('live').getAttribute('data-status')) !== 'live')
        await until('the page to try again', async () => attempts > 0)
        await send('DROP-1', { type: 'REGISTER' }, 201)
        release()
        await until('the missed event', async () => (await page.getByTestId('count-registered').textContent()) === String(before + 1))
        await until('live again', async () => (await page.getByTestId('live').getAttribute('data-status')) === 'live')
        t.equal(received[0], String(lastPosition), 'it asked for what came after the last position it had seen')
        // Chromium reports the stream we cut as a failed resource: expected here, not a page error.
        const cut = problems.filter((p) => /Failed to load resource: net::ERR_(INCOMPLETE_CHUNKED_ENCODING|CONNECTION_RESET|EMPTY_RESPONSE)/.test(p))
        t.ok(cut.length <= 1, 'at most the one stream that was cut')
        problems.splice(0, problems.length, ...problems.filter((p) => !cut.includes(p)))
      } finally {
        server.off('request', onRequest)
        release()
        await page.unroute('**/events/stream*')
      }
    })

    t.test("clicking a state lists its shipments", async (t) => {
      await page.getByTestId('state-assigned').click()
      const list = page.getByTestId('shipment-list')
      await list.getByRole('link', { name: 'LIVE-1' }).waitFor()
      const shown = await list.locator('[data-testid="shipment-item"] td:first-child').allTextContents()
      const expected = (await http(base, 'GET', '/review/states/assigned/shipments')).body.items.map((s: { shipmentId: string }) => s.shipmentId)
      t.same(shown, expected, 'longest in the state first, as the API lists them')
      t.match(await page.getByTestId('state-assigned').getAttribute('class'), /is-selected/)
      t.match(await page.getByTestId('state-panel').textContent(), /Assign to a truck[\s\S]*already on that truck/, 'the refusals in this state, with their reason, in words')
    })

    t.test('a shipment: its path, accepted and refused commands, who and why', async (t) => {
      await page.getByTestId('state-registered').click()
      await page.getByTestId('shipment-list').getByRole('link', { name: 'WAIT-1' }).click()
      const view = page.locator('[data-testid="shipment-view"][data-shipment="WAIT-1"]')
      await view.waitFor()
      const entries = view.getByTestId('timeline').getByTestId('timeline-entry')
      t.same(await entries.evaluateAll((items) => items.map((li) => `${li.getAttribute('data-command')}:${li.getAttribute('data-outcome')}`)), [
        'REGISTER:accepted',
        'DELIVER:rejected',
      ])
      const refused = entries.nth(1)
      t.match(await refused.getByTestId('why').textContent(), /not allowed in this state — cannot DELIVER a shipment that is registered/)
      t.notMatch(await view.textContent(), /invalid_transition|ShipmentRegistered|unregistered/, 'no code names')
      t.match(await refused.textContent(), /device bootstrap, operator op-7/)
      t.match(await entries.nth(0).textContent(), /scanned/, 'when the device scanned it')
      t.match(await page.getByTestId('state-registered').getAttribute('class'), /is-current/)
      t.match(await page.getByTestId('edge-unregistered:REGISTER').getAttribute('class'), /on-path/)
      t.notMatch(await page.getByTestId('edge-registered:ASSIGN').getAttribute('class'), /on-path/)
    })

    t.test('stepping through a shipment’s history', async (t) => {
      await page.evaluate("location.hash = '#/shipment/MOVE-1'")
      const view = (version: number) => page.locator(`[data-testid="shipment-view"][data-shipment="MOVE-1"][data-version="${version}"]`)
      await view(3).waitFor()
      t.equal(await page.getByTestId('shipment-state').textContent(), 'assigned')
      t.match(await page.getByTestId('edge-assigned:ASSIGN').getAttribute('class'), /on-path/, 'the reassignment is on the path')
      t.equal(await view(3).locator('[data-outcome="rejected"]').count(), 1, 'the refused same-truck assignment is listed')
      await page.getByTestId('step-back').click()
      await view(2).waitFor()
      t.notMatch(await page.getByTestId('edge-assigned:ASSIGN').getAttribute('class'), /on-path/, 'not reassigned yet at step 2')
      await page.getByTestId('step-back').click()
      await view(1).waitFor()
      t.equal(await page.getByTestId('shipment-state').textContent(), 'registered')
      t.match(await page.getByTestId('state-registered').getAttribute('class'), /is-current/)
      t.equal(await page.getByTestId('step-back').getAttribute('aria-disabled'), 'true', 'nothing before the first step')
      await page.getByTestId('step-forward').click()
      await view(2).waitFor()
      t.equal(await page.getByTestId('shipment-state').textContent(), 'assigned')
      await page.getByTestId('step-latest').click()
      await view(3).waitFor()
    })

    t.test('the time window re-reads /stats', async (t) => {
      await page.getByTestId('window-custom').click()
      await page.locator('#custom-window input[name="from"]').fill('2000-01-01T00:00')
      await page.locator('#custom-window input[name="to"]').fill('2000-01-02T00:00')
      const asked = new RegExp(`/viz/numbers\\.json\\?from=${utcHourOf('2000-01-01T00:00')}.*&to=${utcHourOf('2000-01-02T00:00')}`)
      const reread = page.waitForRequest((request) => asked.test(decodeURIComponent(request.url())))
      await page.locator('#custom-window button[type="submit"]').click()
      await reread
      const edges = page.locator('#chart g.transition')
      await until('no traffic in 2000', async () => (await edges.evaluateAll((groups) => groups.map((g) => g.getAttribute('data-count')))).every((n) => n === '0'))
      const now = (await http(base, 'GET', '/stats')).body
      for (const s of now.states) t.equal(await page.getByTestId(`count-${s.state}`).textContent(), String(s.count), `${s.state}: still the count now`)
      await page.getByTestId('window-hour').click()
      await until('traffic in the last hour', async () => (await page.getByTestId('edge-unregistered:REGISTER').getAttribute('data-count')) !== '0')
      t.equal(await page.getByTestId('window-label').textContent(), 'last hour')
      await page.getByTestId('window-today').click()
    })

    t.test('a shed numbers read (503 + Retry-After, as the service answers under load) is asked again', async (t) => {
      // The network layer answers the next numbers read as the service's load shedding does; the page
      // must ride it out rather than stay without its numbers (what broke the page on a loaded machine).
      let shed = 0
      await page.route('**/viz/numbers.json*', async (route) => {
        if (shed++ > 0) return route.continue()
        await route.fulfill({ status: 503, headers: { 'retry-after': '1', 'content-type': 'application/problem+json' }, body: JSON.stringify({ type: '/problems/unavailable', title: 'Service Unavailable', status: 503, detail: 'the service is overloaded (eventLoopDelay); retry shortly' }) })
      })
      try {
        const before = await page.locator('#chart').getAttribute('data-stats-at')
        const seenProblems = problems.length
        await page.getByTestId('window-week').click()
        await until('the numbers after the retry', async () => (await page.locator('#chart').getAttribute('data-stats-at')) !== before, 15_000)
        t.ok(shed >= 2, 'refused once, then asked again')
        t.same(problems.slice(seenProblems), [], 'the refusal is no error in the page')
        t.equal(await page.getByTestId('window-label').textContent(), 'last 7 days')
      } finally {
        await page.unroute('**/viz/numbers.json*')
        await page.getByTestId('window-today').click()
      }
    })

    t.test('each chart downloads as SVG with its numbers and as Mermaid text', async (t) => {
      for (const [button, machine] of [['download-mermaid', 'shipment'], ['download-truck-mermaid', 'truck']] as const) {
        const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId(button).click()])
        t.equal(readFileSync(await download.path(), 'utf8'), (await http(base, 'GET', `/viz/chart.mmd?machine=${machine}`)).body, `${button} saves the Mermaid text`)
        t.match(download.suggestedFilename(), new RegExp(`^${machine}-v\\d+\\.mmd$`))
      }
      for (const [button, machine] of [['download-svg', 'shipment'], ['download-truck-svg', 'truck']] as const) {
        const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId(button).click()])
        const svg = readFileSync(await download.path(), 'utf8')
        t.match(download.suggestedFilename(), new RegExp(`^${machine}-v\\d+-numbers\\.svg$`))
        t.match(svg, 'data-testid="legend"', `${button}: with a legend`)
        const numbers = (await http(base, 'GET', '/viz/numbers.json')).body.machines[machine]
        for (const [state, own] of Object.entries(numbers.states as Record<string, { count: number }>)) t.match(svg, new RegExp(`data-testid="count-${state}"[^>]*>${own.count}<`), `${machine} ${state}: ${own.count}`)
      }
    })

    t.test('on a tablet, upright', async (t) => {
      await page.setViewportSize({ width: 768, height: 1024 })
      await page.evaluate("location.hash = '#/shipment/MOVE-1'")
      await page.locator('[data-testid="shipment-view"][data-shipment="MOVE-1"]').waitFor()
      const box = await page.locator('#chart svg').boundingBox()
      t.ok(box && box.width <= 768 && box.width > 500, 'the chart fits the width')
      const small = await page.locator('button:visible, .button:visible').evaluateAll((elements) =>
        elements.filter((e) => e.getBoundingClientRect().height < 44).map((e) => e.textContent),
      )
      t.same(small, [], 'touch targets are at least 44 px high')
      mkdirSync(artifacts, { recursive: true })
      await page.screenshot({ path: join(artifacts, 'viz-tablet.png'), fullPage: true })
      await page.setViewportSize({ width: 1280, height: 800 })
    })

    t.test('without a session: the sign-in form; a refused token goes back to it', async (t) => {
      // Another browser profile: no session cookie (this one's tabs share theirs).
      const stranger = await browser.newContext({ viewport: { width: 1280, height: 800 } })
      t.teardown(() => stranger.close())
      const tab = await stranger.newPage()
      await tab.goto(`${base}/viz`)
      await tab.getByTestId('sign-in').waitFor()
      t.notOk(await tab.getByTestId('window').isVisible(), 'no controls without a session')
      await tab.locator('#sign-in input[name="token"]').fill('wb_not-a-token')
      await tab.locator('#sign-in button[type="submit"]').click()
      await tab.locator('#sign-in-message', { hasText: 'does not know this token' }).waitFor()
      t.same(await stranger.cookies(), [], 'a refused token gets no session')
      await tab.locator('#sign-in input[name="token"]').fill(bootstrapToken)
      await tab.locator('#sign-in button[type="submit"]').click()
      await tab.locator('#chart[data-stats-at]').waitFor()
      t.equal(await tab.getByTestId('state-registered').count(), 1, 'the map, once signed in')
      await tab.close()
    })

    t.test('a long history: the timeline comes a page at a time (More), the path follows `next`', async (t) => {
      writeHistory(api.service.storage, 'LONG-1', 2005, { start: Date.now() - 2005 * 1000, snapshotEvery: api.config.snapshotEvery, partitions: api.config.partitions })
      // Reopen the page after the write: its stream then starts at the head, so no live update of
      // those 2005 events re-renders the view (and doubles the reads) while its reads are counted.
      await page.reload()
      await page.locator('#chart[data-stats-at]').waitFor()
      const seen = requested.length
      await page.evaluate("location.hash = '#/shipment/LONG-1'")
      const view = page.locator('[data-testid="shipment-view"][data-shipment="LONG-1"][data-version="2005"]')
      await view.waitFor()
      const entries = view.getByTestId('timeline').getByTestId('timeline-entry')
      t.equal(await entries.count(), 1000, 'the first page of the timeline')
      t.equal(await page.getByTestId('shipment-state').textContent(), 'assigned')
      t.match(await page.getByTestId('state-assigned').getAttribute('class'), /is-current/, 'the path reaches step 2005 (the server’s, in one bounded read)')
      t.match(await page.getByTestId('edge-assigned:ASSIGN').getAttribute('class'), /on-path/)
      await page.getByTestId('timeline-more').click()
      await until('the second page', async () => (await entries.count()) === 2000)
      await page.getByTestId('timeline-more').click()
      await until('the third page', async () => (await entries.count()) === 2005)
      t.notOk(await page.getByTestId('timeline-more').isVisible(), 'no More after the last page')
      t.match(await entries.last().textContent(), /Assign to a truck \(truck T1\) → step 2005/, 'the newest command links to its step')
      const reads = requested.slice(seen).filter((url) => /\/shipments\/LONG-1\/(events|commands)/.test(url))
      t.ok(reads.every((url) => /[?&]after=\d+/.test(url)), 'every history read is a page')
      t.equal(reads.filter((url) => url.includes('/events')).length, 0, 'the path comes from the server: no event is read for it')
      t.equal(reads.filter((url) => url.includes('/commands')).length, 3, 'timeline: three pages')
    })

    t.test('nothing leaves the origin; no errors in the page', async (t) => {
      await page.screenshot({ path: join(artifacts, 'viz.png') })
      const origin = new URL(base).origin
      t.ok(requested.length > 10, `${requested.length} requests seen`)
      t.same(requested.filter((url) => new URL(url).origin !== origin), [], 'every request goes to the service itself')
      t.same(problems, [])
    })

    t.teardown(() => context.close())
  })
}

/**
 * Polls the page from here (the page's Content-Security-Policy forbids the string evaluation that
 * Playwright's waitForFunction would use).
 */
async function until(what: string, check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Every number the page shows on the chart equals the /stats answer. */
async function expectNumbersOf(t: Test, page: Page, stats: { states: any[]; transitions: any[]; rejections: any[] }) {
  for (const s of stats.states) {
    t.equal(await page.getByTestId(`count-${s.state}`).textContent(), String(s.count), `count of ${s.state}`)
    const rejected = stats.rejections.filter((r) => r.state === s.state).reduce((sum: number, r: { count: number }) => sum + r.count, 0)
    t.equal(await page.getByTestId(`state-${s.state}`).getAttribute('data-rejections'), String(rejected), `rejections in ${s.state}`)
  }
  for (const tr of stats.transitions) t.equal(await page.getByTestId(`edge-${tr.id}`).getAttribute('data-count'), String(tr.count), `traffic on ${tr.id}`)
}
