import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Page } from 'playwright-core'
import { openStorage } from '../../src/storage.js'
import { afternoonZone, dayLoop, planDay, runOperations } from '../helpers/review-day.js'
import { bootstrapToken, tempDir } from '../helpers/service.js'

/**
 * Issue 15, item 8: the process map with a year of history. Seeds `commands` inbox rows (scans and the
 * messages between trucks and shipments, ~3,000 a day: a depot's day of test/helpers/review-day.ts,
 * repeated up to today) through the real decision core, starts the service on them, and measures in
 * Chromium the time to first render of the overview and of each drill-down — from the navigation (or
 * the change of place) until the view is on the screen with its numbers — for the "Today" window
 * (the default), the last 7 days and the last 30 days (the longest the review routes read); and the
 * server's time for each route the views read, and for /stats over all time (v1's default).
 *
 *   BENCH_REVIEW_COMMANDS (1000000)   rows in the inbox
 *   BENCH_REVIEW_DATA_DIR             keep (and reuse) the seeded database there
 */
const day = 24 * 3_600_000
const executablePath = process.env.WAYBILL_TEST_CHROMIUM ?? '/usr/bin/chromium'

export interface ReviewBenchOptions {
  readonly commands: number
  readonly dataDir?: string
  readonly scope: { teardown(fn: () => unknown): void }
  readonly note: (line: string) => void
  /** Starts `waybill serve` on the data directory; resolves with its base URL and a stop. */
  readonly serve: (dataDir: string) => Promise<{ url: string; stop(): Promise<void> }>
}

/** The views measured: where, and what shows when it is rendered. */
const views = [
  ['state: registered, longest first', '#/state/registered', 'shipment-list'],
  ['state: delivered, latest first', '#/state/delivered', 'shipment-list'],
  ['refusals row: registered · Deliver', '#/rejections/registered/DELIVER/invalid_transition', 'refused-subjects'],
  ['stuck list', '#/stuck', 'stuck-view'],
  ['devices', '#/devices', 'devices-table'],
  ['one device (the offline one)', '#/device/scanner-6', 'refused-commands'],
  ['operators', '#/operators', 'operators-table'],
  ['one operator', '#/operator/op-1', 'refused-commands'],
  ['destinations', '#/destinations', 'destinations-table'],
  ['one destination', '#/destination/~Lyon', 'destination-view'],
  ['truck board', '#/trucks', 'truck-board-table'],
  ['one truck', '#/truck/T03', 'manifest'],
  ['compared with the day and week before', '#/compare', 'compare-view'],
  ['a shipment (timeline, departure)', '#/shipment/{shipment}', 'timeline'],
  ['printable report', '#/report', 'report-chart'],
] as const

export async function reviewBench(options: ReviewBenchOptions): Promise<string[]> {
  const { note } = options
  const now = Date.now()
  const zone = afternoonZone(now)
  const dataDir = options.dataDir ?? tempDir(options.scope, 'waybill-review-')
  const file = join(dataDir, 'waybill.db')
  let seededIn: number | null = null
  // A database seeded before is reused as it is (seeding again would replay the same days into it).
  if (!existsSync(file)) seededIn = await seed(file, options.commands, zone.midnight, now, note)
  else note(`reusing ${file} (${(await countRows(file)).toLocaleString('en')} commands)`)
  const counts = await countRows(file, true)
  const service = await options.serve(dataDir)
  options.scope.teardown(() => service.stop())
  const token = await reviewerToken(service.url)
  const lines: string[] = [
    `## The process map with ${counts.commands.toLocaleString('en')} commands stored`,
    '',
    `${counts.commands.toLocaleString('en')} inbox rows (${counts.rejected.toLocaleString('en')} refused, ${counts.late.toLocaleString('en')} late), ` +
      `${counts.events.toLocaleString('en')} events, ${counts.shipments.toLocaleString('en')} shipments over ${counts.days} days, ` +
      `${(statSync(file).size / 2 ** 30).toFixed(2)} GiB SQLite file${seededIn === null ? '' : `; seeded through the decision core in ${(seededIn / 60_000).toFixed(1)} min`}.`,
    '',
  ]

  // The server's own time per route (what the views read), Today's window.
  const today = `from=${new Date(zone.midnight).toISOString()}`
  const week = `from=${new Date(zone.midnight - 6 * day).toISOString()}`
  const month = `from=${new Date(zone.midnight - 29 * day).toISOString()}`
  const shipment = await someShipment(service.url, token)
  const routes = [
    `/viz/numbers.json?${today}`, `/review/summary?${today}`, '/review/stuck?limit=10', `/review/trucks?${today}`,
    `/review/rejections?${today}&state=registered&command=DELIVER&reason=invalid_transition&limit=50`,
    '/review/states/registered/shipments?limit=25', '/review/states/delivered/shipments?order=latest&limit=25',
    '/review/stuck?limit=50', `/review/devices?${today}`, `/review/devices/scanner-6?${today}&limit=50`, `/review/operators?${today}`,
    `/review/destinations?${today}`, `/review/trucks/T03?${today}`, `/review/compare?${today}`, `/review/shipments/${shipment}`,
    `/shipments/${shipment}/commands?after=0`, `/viz/chart.svg?numbers=true&${today}`,
    `/review/summary?${week}`, `/review/devices?${week}`, `/viz/numbers.json?${week}`, `/review/compare?${week}`,
    `/viz/numbers.json?${month}`, `/review/summary?${month}`, `/review/devices?${month}`, `/review/operators?${month}`, `/review/destinations?${month}`,
    `/review/rejections?${month}&state=registered&command=DELIVER&reason=invalid_transition&limit=50`, `/stats?${month}`, '/stats',
  ]
  lines.push('### Server time per route (median of 5, warm)', '', '| route | ms |', '|---|---:|')
  for (const route of routes) {
    const times: number[] = []
    for (let i = 0; i < 5; i++) {
      const res = await fetchPatiently(service.url + route, token)
      if (res.status !== 200) throw new Error(`${route}: ${res.status}`)
      times.push(res.ms)
    }
    const shown = route.replace(/from=[^&]+/, (m) => (m === today ? 'from=<today>' : m === week ? 'from=<7 days ago>' : 'from=<30 days ago>'))
    lines.push(`| \`${shown}\` | ${median(times).toFixed(1)} |`)
  }
  lines.push('')

  note('measuring in Chromium')
  const browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  options.scope.teardown(() => browser.close())
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 }, timezoneId: zone.timezoneId, locale: 'en-US' })
  const page = await context.newPage()
  await page.goto(`${service.url}/viz#token=${token}`)
  await page.locator('#chart[data-stats-at]').waitFor({ timeout: 120_000 })

  const windows = [
    ['Today', 'window-today'],
    ['7 days', 'window-week'],
    ['30 days', 'window-month'],
  ] as const
  const results = new Map<string, number[]>()
  for (const [windowName, button] of windows) {
    await page.evaluate("location.hash = '#/'")
    await page.getByTestId(button).click()
    await page.getByTestId('overview').waitFor({ timeout: 120_000 })
    // The overview: the whole page from its navigation (a new tab, signed in by its session).
    const overview: number[] = []
    for (let i = 0; i < 3; i++) {
      const started = performance.now()
      await page.goto(`${service.url}/viz`)
      if (button !== 'window-today') await page.getByTestId(button).click()
      await page.locator('#chart[data-stats-at]').waitFor({ timeout: 120_000 })
      await page.getByTestId('overview').waitFor({ timeout: 120_000 })
      await page.getByTestId('truck-board-table').waitFor({ timeout: 120_000 })
      overview.push(performance.now() - started)
    }
    results.set(`overview (page load, both charts, numbers, figures, stuck, truck board)|${windowName}`, overview)
    for (const [name, hash, testid] of views) {
      const times: number[] = []
      for (let i = 0; i < 3; i++) times.push(await firstRender(page, hash.replace('{shipment}', shipment), testid))
      results.set(`${name}|${windowName}`, times)
    }
    note(`  ${windowName} done`)
  }
  lines.push(
    '### Time to first render in Chromium (ms, median of 3; the place changes, the view is on the screen)',
    '',
    `| view | ${windows.map(([w]) => w).join(' | ')} |`,
    `|---|${windows.map(() => '---:').join('|')}|`,
  )
  for (const name of ['overview (page load, both charts, numbers, figures, stuck, truck board)', ...views.map(([n]) => n)]) {
    lines.push(`| ${name} | ${windows.map(([w]) => median(results.get(`${name}|${w}`) ?? []).toFixed(0)).join(' | ')} |`)
  }
  return lines
}

/** From the change of place until the view's element is in the panel. */
async function firstRender(page: Page, hash: string, testid: string): Promise<number> {
  await page.evaluate("document.getElementById('panel').replaceChildren()")
  const started = performance.now()
  await page.evaluate(`location.hash = ${JSON.stringify(hash)}; window.dispatchEvent(new HashChangeEvent('hashchange'))`)
  await page.locator(`#panel [data-testid="${testid}"]`).first().waitFor({ timeout: 120_000 })
  return performance.now() - started
}

/** A GET that waits out a shed request (a 503 after a long read), as the page does; the time of the answered one. */
async function fetchPatiently(url: string, token: string): Promise<{ status: number; ms: number }> {
  for (let attempt = 0; ; attempt++) {
    const started = performance.now()
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
    await res.arrayBuffer()
    const ms = performance.now() - started
    if ((res.status !== 503 && res.status !== 429) || attempt >= 10) return { status: res.status, ms }
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
}

const median = (values: number[]) => {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

async function countRows(file: string): Promise<number>
async function countRows(file: string, all: true): Promise<{ commands: number; rejected: number; late: number; events: number; shipments: number; days: number }>
async function countRows(file: string, all = false) {
  const storage = await openStorage({ databaseFile: file, databaseUrl: undefined, busyTimeoutMs: 1000, bootstrapToken: undefined })
  try {
    const one = async (sql: string) => (await storage.store.sql.get<{ n: number }>(sql))!.n
    const commands = await one('SELECT max(seq) AS n FROM commands')
    if (!all) return commands ?? 0
    return {
      commands,
      rejected: await one("SELECT count(*) AS n FROM commands WHERE status = 'rejected'"),
      late: await one('SELECT count(*) AS n FROM commands WHERE late = 1'),
      events: await one('SELECT max(position) AS n FROM events'),
      shipments: await one('SELECT count(*) AS n FROM shipments'),
      days: Math.round(((await one('SELECT max(at) AS n FROM review_steps')) - (await one('SELECT min(at) AS n FROM review_steps'))) / day),
    }
  } finally {
    await storage.close()
  }
}

/**
 * Days of the depot up to today, oldest first, until the inbox holds `commands` rows. A first day
 * seeded elsewhere tells how many rows a day makes, so that the last day seeded is today.
 */
async function seed(file: string, commands: number, midnight: number, now: number, note: (line: string) => void): Promise<number> {
  const started = performance.now()
  const probeDir = tempDir({ teardown: () => {} }, 'waybill-probe-')
  const probe = await openStorage({ databaseFile: join(probeDir, 'waybill.db'), databaseUrl: undefined, busyTimeoutMs: 1000, bootstrapToken: undefined })
  await runOperations(await dayLoop(probe.store), probe.store, planDay({ start: midnight - 2 * day, prefix: 'P', openTrucks: true }), { resolutionMs: 300_000 })
  const perDay = (await probe.store.sql.get<{ n: number }>('SELECT max(seq) AS n FROM commands'))!.n
  await probe.close()
  // Days vary a little (refusals, departures): a few more than the probe's count ensures the total.
  const days = Math.ceil((commands / perDay) * 1.02)
  note(`seeding ${days} days of ~${perDay.toLocaleString('en')} commands`)
  const storage = await openStorage({ databaseFile: file, databaseUrl: undefined, busyTimeoutMs: 1000, bootstrapToken: undefined })
  const loop = await dayLoop(storage.store)
  for (let k = 0; k < days; k++) {
    const start = midnight - (days - 1 - k) * day
    await runOperations(loop, storage.store, planDay({ start, prefix: `D${k}`, openTrucks: k === 0, seed: k + 1 }), { resolutionMs: 300_000, until: now })
    if (k % 10 === 9) note(`  ${k + 1}/${days} days, ${((performance.now() - started) / 60_000).toFixed(1)} min`)
  }
  await loop.worker.stop()
  // The seeding loop held partition 0 of a one-partition layout: hand the table back to the service.
  await storage.store.sql.run('DELETE FROM partitions')
  await storage.close()
  return performance.now() - started
}

/** A shipment of today that left with a truck's departure (its timeline shows the departure). */
async function someShipment(url: string, token: string): Promise<string> {
  const res = await fetch(`${url}/review/states/delivered/shipments?order=latest&limit=50`, { headers: { authorization: `Bearer ${token}` } })
  const page = (await res.json()) as { items: Array<{ shipmentId: string; truckId: string | null }> }
  return (page.items.find((s) => s.truckId?.startsWith('T')) ?? page.items[0])!.shipmentId
}

async function reviewerToken(url: string): Promise<string> {
  const res = await fetch(`${url}/admin/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bootstrapToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ deviceId: 'bench-reviewer', role: 'reviewer' }),
  })
  return ((await res.json()) as { token: string }).token
}
