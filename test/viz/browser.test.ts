import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { bootstrapToken, http, startTestService } from '../helpers/service.js'

// The process map in a real browser (Debian's Chromium, never a downloaded one) against a real
// service (HTTP, worker, Redis, SQLite): the page draws the machine's chart, shows the numbers of
// /stats, follows the event stream live, lists a state's shipments, shows a shipment's history with
// its refused commands and steps through it, switches the time window, downloads the chart, and
// never talks to another origin.
const executablePath = '/usr/bin/chromium'
const artifacts = fileURLToPath(new URL('../../test-artifacts/', import.meta.url))

if (!existsSync(executablePath)) {
  t.comment(`${executablePath} is not installed (Debian: apt-get install chromium): the process map's browser test did not run`)
  t.plan(0, 'chromium not installed')
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

    const browser = await chromium.launch({
      executablePath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
    t.teardown(() => browser.close())
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
    const requested: string[] = []
    context.on('request', (request) => requested.push(request.url()))
    const page = await context.newPage()
    const problems: string[] = []
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`)
    })

    await page.goto(`${base}/viz#token=${bootstrapToken}`)
    await page.locator('#chart[data-stats-at]').waitFor()

    t.test('the token leaves the address bar for the tab session', async (t) => {
      t.notMatch(page.url(), bootstrapToken)
      t.equal(await page.evaluate("sessionStorage.getItem('waybill.viz.token')"), bootstrapToken)
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
      await expectNumbersOf(t, page, (await http(base, 'GET', '/stats')).body)
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
      await expectNumbersOf(t, page, (await http(base, 'GET', '/stats')).body)
      t.equal(await page.getByTestId('live').getAttribute('data-status'), 'live')
    })

    t.test('the stream reconnects after a drop and resumes after the last event seen', async (t) => {
      // Hold the page's next stream request until an event has happened that it did not see.
      let release = () => {}
      const held = new Promise<void>((resolve) => (release = resolve))
      const reconnects: Array<Record<string, string>> = []
      await page.route('**/events/stream*', async (route) => {
        reconnects.push(route.request().headers())
        await held
        await route.continue()
      })
      try {
        const lastPosition = (await http(base, 'GET', '/events?limit=1000')).body.last as number
        const before = Number(await page.getByTestId('count-registered').textContent())
        api.service.app!.server.closeAllConnections()
        await until('the page to notice the drop', async () => (await page.getByTestId('live').getAttribute('data-status')) !== 'live')
        await until('the page to try again', async () => reconnects.length > 0)
        await send('DROP-1', { type: 'REGISTER' }, 201)
        release()
        await until('the missed event', async () => (await page.getByTestId('count-registered').textContent()) === String(before + 1))
        await until('live again', async () => (await page.getByTestId('live').getAttribute('data-status')) === 'live')
        t.equal(reconnects[0]?.['last-event-id'], String(lastPosition), 'it asked for what came after the last position it had seen')
        // Chromium reports the stream we cut as a failed resource: expected here, not a page error.
        const cut = problems.filter((p) => /Failed to load resource: net::ERR_(INCOMPLETE_CHUNKED_ENCODING|CONNECTION_RESET|EMPTY_RESPONSE)/.test(p))
        t.ok(cut.length <= 1, 'at most the one stream that was cut')
        problems.splice(0, problems.length, ...problems.filter((p) => !cut.includes(p)))
      } finally {
        release()
        await page.unroute('**/events/stream*')
      }
    })

    t.test("clicking a state lists its shipments", async (t) => {
      await page.getByTestId('state-assigned').click()
      const list = page.getByTestId('shipment-list')
      await list.locator('[data-shipment="LIVE-1"]').waitFor()
      const shown = await list.locator('[data-testid="shipment-item"]').evaluateAll((items) => items.map((li) => li.getAttribute('data-shipment')))
      const expected = (await http(base, 'GET', '/shipments?state=assigned')).body.items.map((s: { shipmentId: string }) => s.shipmentId)
      t.same(shown, expected)
      t.match(await page.getByTestId('state-assigned').getAttribute('class'), /is-selected/)
      t.match(await page.getByTestId('state-panel').textContent(), /ASSIGN[\s\S]*same_truck/, 'the refusals in this state, with their reason')
    })

    t.test('a shipment: its path, accepted and refused commands, who and why', async (t) => {
      await page.getByTestId('state-registered').click()
      await page.getByTestId('shipment-list').locator('[data-shipment="WAIT-1"] a').click()
      const view = page.locator('[data-testid="shipment-view"][data-shipment="WAIT-1"]')
      await view.waitFor()
      const entries = view.getByTestId('timeline').getByTestId('timeline-entry')
      t.same(await entries.evaluateAll((items) => items.map((li) => `${li.getAttribute('data-command')}:${li.getAttribute('data-outcome')}`)), [
        'REGISTER:accepted',
        'DELIVER:rejected',
      ])
      const refused = entries.nth(1)
      t.match(await refused.getByTestId('why').textContent(), /invalid_transition.*cannot DELIVER a shipment that is registered/)
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
      const reread = page.waitForRequest((request) => /\/stats\?from=2000-01-0.*&to=2000-01-0/.test(decodeURIComponent(request.url())))
      await page.locator('#custom-window button[type="submit"]').click()
      await reread
      const edges = page.locator('#chart g.transition')
      await until('no traffic in 2000', async () => (await edges.evaluateAll((groups) => groups.map((g) => g.getAttribute('data-count')))).every((n) => n === '0'))
      const now = (await http(base, 'GET', '/stats')).body
      for (const s of now.states) t.equal(await page.getByTestId(`count-${s.state}`).textContent(), String(s.count), `${s.state}: still the count now`)
      await page.getByTestId('window-hour').click()
      await until('traffic in the last hour', async () => (await page.getByTestId('edge-unregistered:REGISTER').getAttribute('data-count')) !== '0')
      t.equal(await page.getByTestId('window-label').textContent(), 'last hour')
      await page.getByTestId('window-all').click()
    })

    t.test('the chart downloads as SVG and as Mermaid text', async (t) => {
      for (const [button, path] of [['download-svg', '/viz/chart.svg'], ['download-mermaid', '/viz/chart.mmd']] as const) {
        const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId(button).click()])
        const saved = await download.path()
        t.equal(readFileSync(saved, 'utf8'), (await http(base, 'GET', path)).body, `${button} saves ${path}`)
        t.match(download.suggestedFilename(), /^shipment-v\d+\.(svg|mmd)$/)
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

    t.test('without a token: the sign-in form; a refused token goes back to it', async (t) => {
      const tab = await context.newPage()
      await tab.goto(`${base}/viz`)
      await tab.getByTestId('sign-in').waitFor()
      t.notOk(await tab.getByTestId('window').isVisible(), 'no controls without a token')
      await tab.locator('#sign-in input[name="token"]').fill('wb_not-a-token')
      await tab.locator('#sign-in button[type="submit"]').click()
      await tab.locator('#sign-in-message', { hasText: 'refused' }).waitFor()
      t.equal(await tab.evaluate("sessionStorage.getItem('waybill.viz.token')"), null, 'a refused token is forgotten')
      await tab.locator('#sign-in input[name="token"]').fill(bootstrapToken)
      await tab.locator('#sign-in button[type="submit"]').click()
      await tab.locator('#chart[data-stats-at]').waitFor()
      t.equal(await tab.getByTestId('state-registered').count(), 1, 'the map, once signed in')
      await tab.close()
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
