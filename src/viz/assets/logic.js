// @ts-check
// The page's logic without a DOM: time windows, routes, CSV, formatting, the comparison's rows, the
// stream's reconnection delays. Imported by the page and by the unit tests (test/viz/logic.test.ts),
// which run it in Node.

/** @typedef {'hour' | 'today' | 'yesterday' | 'week' | 'month' | 'custom'} WindowKind */
/**
 * What the reader chose; `from`/`to` are `datetime-local` values (the reader's zone) for `custom`.
 * @typedef {{ kind: WindowKind, from?: string, to?: string }} WindowChoice
 */
/**
 * A window as the API takes it: `from`/`to` epoch ms (`to` null: until now; `from` null: the API's
 * default, a day). The review routes read at most 31 days per request (`maxWindowDays`).
 * @typedef {{ from: number | null, to: number | null, label: string }} WindowRange
 */

/** The longest window the review routes read (docs/api.md *Review*). */
export const maxWindowDays = 31

/** Why a custom window cannot be shown, or null when it can. @param {WindowRange} range @param {number} now */
export function windowProblem(range, now) {
  if (range.from === null) return 'Choose where the window starts.'
  const to = range.to ?? now
  if (range.from > to) return '“From” is after “to”.'
  if (to - range.from > maxWindowDays * dayMs) return `Choose at most ${maxWindowDays} days: the map reads its numbers live.`
  return null
}

const hourMs = 3_600_000
const dayMs = 24 * hourMs

/** Local midnight of the day `now` is in. */
export function midnight(/** @type {Date} */ now) {
  const day = new Date(now.getTime())
  day.setHours(0, 0, 0, 0)
  return day
}

/** The local midnight `days` days after `day` (days may be negative; DST-safe). */
function addDays(/** @type {Date} */ day, /** @type {number} */ days) {
  const next = new Date(day.getTime())
  next.setDate(next.getDate() + days)
  return next
}

/**
 * The window a choice means at `now`. "Today" (the default) is from local midnight on.
 * @param {WindowChoice} choice
 * @param {Date} now
 * @returns {WindowRange}
 */
export function windowRange(choice, now) {
  const today = midnight(now)
  switch (choice.kind) {
    case 'hour':
      return { from: now.getTime() - hourMs, to: null, label: 'last hour' }
    case 'today':
      return { from: today.getTime(), to: null, label: 'today' }
    case 'yesterday':
      return { from: addDays(today, -1).getTime(), to: today.getTime() - 1, label: 'yesterday' }
    case 'week':
      return { from: addDays(today, -6).getTime(), to: null, label: 'last 7 days' }
    case 'month':
      return { from: addDays(today, -29).getTime(), to: null, label: 'last 30 days' }
    case 'custom': {
      const from = choice.from ? new Date(choice.from).getTime() : null
      const to = choice.to ? new Date(choice.to).getTime() : null
      const shown = (/** @type {number | null} */ ms, /** @type {string} */ none) => (ms === null ? none : new Date(ms).toLocaleString())
      return { from, to, label: `${shown(from, 'the beginning')} – ${shown(to, 'now')}` }
    }
  }
}

/**
 * `from=…&to=…` of a window (empty for all time), for any route that takes one.
 * @param {WindowRange} range
 */
export function windowParams(range) {
  const params = new URLSearchParams()
  if (range.from !== null) params.set('from', new Date(range.from).toISOString())
  if (range.to !== null) params.set('to', new Date(range.to).toISOString())
  return params
}

/** The window as a query string (`?from=…&to=…`). */
export function windowQuery(/** @type {WindowRange} */ range) {
  const query = windowParams(range).toString()
  return query ? `?${query}` : ''
}

/** Whether the comparison can be drawn: a start, and at most 7 days long. */
export function comparable(/** @type {WindowRange} */ range, /** @type {number} */ now) {
  return range.from !== null && (range.to ?? now) - range.from < 7 * dayMs
}

/**
 * The page's places, in the address after `#`. Every count opens one of them.
 * @typedef {{ view: 'overview' }
 *   | { view: 'state', state: string }
 *   | { view: 'shipment', shipmentId: string, version?: number }
 *   | { view: 'rejections', state: string, command: string, reason: string }
 *   | { view: 'stuck' }
 *   | { view: 'devices' } | { view: 'device', deviceId: string }
 *   | { view: 'operators' } | { view: 'operator', operatorId: string }
 *   | { view: 'destinations' } | { view: 'destination', destination: string | null }
 *   | { view: 'trucks' } | { view: 'truck', truckId: string }
 *   | { view: 'compare' } | { view: 'report' }} Route
 */

const simple = ['stuck', 'devices', 'operators', 'destinations', 'trucks', 'compare', 'report']

/**
 * @param {string} hash e.g. `#/state/assigned`
 * @returns {Route}
 */
export function parseRoute(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').map((p) => {
    try {
      return decodeURIComponent(p)
    } catch {
      return p
    }
  })
  const [view, a, b, c] = parts
  if (view === 'state' && a) return { view, state: a }
  if (view === 'shipment' && a) return b !== undefined && /^\d+$/.test(b) ? { view, shipmentId: a, version: Number(b) } : { view, shipmentId: a }
  if (view === 'rejections' && a && b && c) return { view, state: a, command: b, reason: c }
  if (view === 'device' && a) return { view, deviceId: a }
  if (view === 'operator' && a) return { view, operatorId: a }
  if (view === 'destination' && a !== undefined) return { view, destination: a === '' ? null : a.replace(/^~/, '') }
  if (view === 'truck' && a) return { view, truckId: a }
  if (view && simple.includes(view)) return /** @type {Route} */ ({ view })
  return { view: 'overview' }
}

/**
 * The address of a place (the inverse of `parseRoute`).
 * @param {Route} route
 */
export function routeHash(route) {
  const e = encodeURIComponent
  switch (route.view) {
    case 'overview':
      return '#/'
    case 'state':
      return `#/state/${e(route.state)}`
    case 'shipment':
      return `#/shipment/${e(route.shipmentId)}${route.version === undefined ? '' : `/${route.version}`}`
    case 'rejections':
      return `#/rejections/${e(route.state)}/${e(route.command)}/${e(route.reason)}`
    case 'device':
      return `#/device/${e(route.deviceId)}`
    case 'operator':
      return `#/operator/${e(route.operatorId)}`
    // "~" keeps a destination that is empty or looks like a number from being misread; null: none given.
    case 'destination':
      return `#/destination/${route.destination === null ? '' : `~${e(route.destination)}`}`
    case 'truck':
      return `#/truck/${e(route.truckId)}`
    default:
      return `#/${route.view}`
  }
}

/** A duration for people: 850 ms, 42 s, 12 min, 3.4 h, 2.1 d ('–' for none). */
export function duration(/** @type {number | null | undefined} */ ms) {
  if (ms === null || ms === undefined) return '–'
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`
  if (ms < 86_400_000) return `${trim(ms / 3_600_000)} h`
  return `${trim(ms / 86_400_000)} d`
}

const trim = (/** @type {number} */ n) => (n < 10 ? n.toFixed(1).replace(/\.0$/, '') : String(Math.round(n)))

/** p50 and p95 of a Percentiles answer, in words. */
export function percentilesText(/** @type {{ samples: number, p50Ms: number | null, p95Ms: number | null }} */ p) {
  return p.samples === 0 ? '–' : `p50 ${duration(p.p50Ms)} · p95 ${duration(p.p95Ms)}`
}

/**
 * RFC 4180 CSV of a table (header, then rows): fields with a comma, quote, line break or edge space
 * are quoted, lines end in CRLF. Starts with a byte order mark so spreadsheet programs read it as UTF-8.
 * @param {readonly string[]} header
 * @param {readonly (readonly string[])[]} rows
 */
export function csv(header, rows) {
  const field = (/** @type {string} */ text) => (/[",\r\n]|^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text)
  return `\uFEFF${[header, ...rows].map((row) => row.map(field).join(',')).join('\r\n')}\r\n`
}

/** A file name for a table's CSV: `waybill-<what>-<window>.csv`, safe on every system. */
export function csvName(/** @type {string} */ what, /** @type {string} */ windowLabel) {
  const slug = (/** @type {string} */ s) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')
  return `waybill-${slug(what)}-${slug(windowLabel) || 'all'}.csv`
}

/**
 * The comparison as table rows, one per hour of the window: the hour, state changes now / a day
 * earlier / a week earlier, and the median stay that ended in that hour for each.
 * @param {import('../../http/schemas.js').Comparison} comparison
 * @param {(iso: string) => string} hourLabel
 */
export function comparisonRows(comparison, hourLabel) {
  const [now, day, week] = comparison.series
  if (!now || !day || !week) return []
  return now.hours.map((hour, i) => ({
    hour: hourLabel(hour.start),
    moves: [hour.moves, day.hours[i]?.moves ?? 0, week.hours[i]?.moves ?? 0],
    dwell: [hour.dwellP50Ms, day.hours[i]?.dwellP50Ms ?? null, week.hours[i]?.dwellP50Ms ?? null],
  }))
}

/** Signed change in words: "+12", "−3", "±0". */
export function change(/** @type {number} */ now, /** @type {number} */ before) {
  const d = now - before
  return d > 0 ? `+${d}` : d < 0 ? `−${-d}` : '±0'
}

/**
 * How long to wait before reconnecting the event stream after `failures` failed tries in a row
 * (the browser's own retry covers a dropped connection; this covers a refused one): 0.5 s doubling, at most 10 s.
 */
export function reconnectDelay(/** @type {number} */ failures) {
  return Math.min(10_000, 500 * 2 ** Math.max(0, failures - 1))
}

/**
 * Takes `#token=…` out of an address fragment: the token, and the fragment without it (a route, if
 * one was there too: `#/devices&token=…` or `#token=…&/devices` both keep `#/devices`).
 * @param {string} hash
 * @returns {{ token: string | null, rest: string }}
 */
export function takeTokenFrom(hash) {
  const body = hash.replace(/^#/, '')
  const parts = body.split('&')
  const found = parts.find((p) => p.startsWith('token='))
  if (!found) return { token: null, rest: hash }
  const rest = parts.filter((p) => p !== found).join('&')
  let token = found.slice('token='.length)
  try {
    token = decodeURIComponent(token)
  } catch {
    // kept as it is
  }
  return { token: token || null, rest: rest ? `#${rest}` : '' }
}
