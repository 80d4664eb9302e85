import t from 'tap'
import { writeHistory } from '../helpers/long-history.js'
import { startTestService } from '../helpers/service.js'

// Issue 9, item 5: the process map's shipment view reads both histories a page at a time and follows
// `next` (src/viz/assets/views.js `pagedHistory`), against the real routes. The DOM around it is
// covered by test/viz/browser.test.ts where Chromium is installed.
const assets = new URL('../../src/viz/assets/', import.meta.url)

t.test('the page follows `next` through a long history, one bounded request per page', async (t) => {
  const { pagedHistory } = (await import(new URL('views.js', assets).href)) as { pagedHistory: (api: unknown, path: string, key: string) => any }
  const { ApiError } = (await import(new URL('api.js', assets).href)) as { ApiError: new (status: number, problem: unknown) => Error }
  const service = await startTestService(t, { env: { WAYBILL_MAX_EVENT_LOOP_DELAY_MS: '60000' } })
  writeHistory(service.service.storage, 'LONG-1', 2005, { start: Date.now() - 2_005_000, snapshotEvery: service.config.snapshotEvery, partitions: service.config.partitions })
  const asked: string[] = []
  const api = {
    async get(path: string) {
      asked.push(path)
      const res = await service.request('GET', path)
      if (res.status >= 400) throw new ApiError(res.status, res.body)
      return res.body
    },
  }

  for (const [path, key] of [['/shipments/LONG-1/events', 'events'], ['/shipments/LONG-1/commands', 'commands']] as const) {
    asked.length = 0
    const history = pagedHistory(api, path, key)
    t.equal((await history.more()).length, 1000, `${key}: the first page`)
    t.notOk(history.done)
    while (!history.done) await history.more()
    t.equal(history.items.length, 2005, `${key}: every item once`)
    t.same(asked, [`${path}?after=0`, `${path}?after=1000`, `${path}?after=2000`], `${key}: three pages, each after the previous next`)
    t.same(await history.more(), [], 'nothing more after the last page')
    t.equal(asked.length, 3, 'and no request for it')
  }
  const events = pagedHistory(api, '/shipments/LONG-1/events', 'events')
  while (!events.done) await events.more()
  t.same(events.items.map((e: { version: number }) => e.version), Array.from({ length: 2005 }, (_, i) => i + 1), 'versions 1..2005 in order')

  const none = pagedHistory(api, '/shipments/NOPE/commands', 'commands')
  t.same(await none.more(), [], 'a 404 is an empty history')
  t.ok(none.done)
})
