import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core'

/** Debian's Chromium (never a downloaded one); WAYBILL_TEST_CHROMIUM points elsewhere (e.g. to check that a missing browser fails under CI). */
export const chromiumPath = process.env.WAYBILL_TEST_CHROMIUM ?? '/usr/bin/chromium'

/**
 * A page in a fresh headless Chromium (closed at teardown), with every URL it requests and every
 * problem it shows: page errors and console errors — except Chromium's line for a 503/429, which the
 * page answers by asking again after Retry-After (a loaded machine sheds a request now and then).
 */
export async function openPage(t: { teardown(fn: () => unknown): void }, options: BrowserContextOptions): Promise<{ browser: Browser; context: BrowserContext; page: Page; requested: string[]; problems: string[] }> {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  t.teardown(() => browser.close())
  const context = await browser.newContext(options)
  t.teardown(() => context.close())
  const requested: string[] = []
  context.on('request', (request) => requested.push(request.url()))
  const page = await context.newPage()
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error' && !/Failed to load resource: the server responded with a status of (503|429)/.test(message.text())) problems.push(`console: ${message.text()}`)
  })
  return { browser, context, page, requested, problems }
}
