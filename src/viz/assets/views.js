// @ts-check
// The side panel's views, one per place of the page (logic.js `Route`). Each `render…` reads what it
// shows from the server and returns `{ element, path?, selected?, onNumbers?, onEvent? }`: the app
// puts `element` in the panel, highlights `path` and `selected` on the charts, and hands later chart
// numbers and stream events to the view (it updates itself, or asks for a re-render by returning true
// from `onEvent`). Every count links to what is behind it; every table downloads as CSV.

import { ApiError, getJson, getText } from './api.js'
import { count, h, hourText, time, timeText } from './dom.js'
import { change, comparable, comparisonRows, duration, percentilesText, routeHash } from './logic.js'
import { table } from './table.js'

/**
 * @typedef {import('../../http/schemas.js').GlossaryResponse} Glossary
 * @typedef {import('../../http/schemas.js').ChartNumbersResponse} Numbers
 * @typedef {import('../../http/schemas.js').ReviewSummary} ReviewSummary
 * @typedef {import('../../http/schemas.js').RejectionDrillDown} RejectionDrillDown
 * @typedef {import('../../http/schemas.js').StateShipments} StateShipments
 * @typedef {import('../../http/schemas.js').StuckShipments} StuckShipments
 * @typedef {import('../../http/schemas.js').DeviceActivity} DeviceActivity
 * @typedef {import('../../http/schemas.js').OperatorActivity} OperatorActivity
 * @typedef {import('../../http/schemas.js').WhoDetail} WhoDetail
 * @typedef {import('../../http/schemas.js').DestinationActivity} DestinationActivity
 * @typedef {import('../../http/schemas.js').TruckBoard} TruckBoard
 * @typedef {import('../../http/schemas.js').TruckReview} TruckReview
 * @typedef {import('../../http/schemas.js').Comparison} Comparison
 * @typedef {import('../../http/schemas.js').ShipmentReview} ShipmentReview
 * @typedef {import('./logic.js').WindowRange} WindowRange
 * @typedef {import('./logic.js').Route} Route
 * @typedef {import('./dom.js').Child} Child
 */

/**
 * What every view gets: the page's words, the charts' numbers now, the window.
 * @typedef {{
 *   words: Glossary,
 *   numbers: Numbers | null,
 *   range: WindowRange,
 *   query: (extra?: Record<string, string>) => string,
 *   now: () => number,
 * }} Context
 */

/**
 * @typedef {{
 *   element: HTMLElement,
 *   path?: { states: string[], transitions: string[], current: string } | null,
 *   selected?: { machine: 'shipment' | 'truck', state: string } | null,
 *   onNumbers?: (numbers: Numbers) => void,
 *   onEvent?: (event: { shipmentId?: string, truckId?: string }) => boolean,
 * }} View
 */

const pageSize = 25

/** @param {string} hash @param {string} text @param {Record<string, unknown>} [attributes] */
const link = (hash, text, attributes = {}) => h('a', { href: hash, ...attributes }, text)
const back = () => h('p', { class: 'crumbs' }, link('#/', '← Overview'))

// --- words ---------------------------------------------------------------------------------------

/**
 * The machine a state belongs to (shipment and truck states have distinct ids).
 * @param {Glossary} words @param {string} state @returns {'shipment' | 'truck'}
 */
export function machineOf(words, state) {
  return state in words.machines.truck.states ? 'truck' : 'shipment'
}

/** @param {Glossary} words @param {string} state */
export const stateLabel = (words, state) => words.machines[machineOf(words, state)].states[state]?.label ?? state
/** @param {Glossary} words @param {string} command @param {'shipment' | 'truck'} [machine] */
export const commandLabel = (words, command, machine) =>
  (machine ? words.machines[machine].commands[command] : undefined) ?? words.machines.shipment.commands[command] ?? words.machines.truck.commands[command] ?? command
/** @param {Glossary} words @param {string | null} reason @param {'shipment' | 'truck'} [machine] */
export const reasonLabel = (words, reason, machine = 'shipment') =>
  reason === null ? 'refused' : ((machine === 'truck' ? words.truckReasons[reason] : undefined) ?? words.reasons[reason] ?? reason)

/** "Deliver refused (not allowed in this state) × 3" for a badge's tooltip. */
export function refusedText(/** @type {Glossary} */ words, /** @type {'shipment' | 'truck'} */ machine) {
  return (/** @type {{ command: string, reason: string, count: number }} */ r) => `${commandLabel(words, r.command, machine)} refused (${reasonLabel(words, r.reason, machine)}) × ${r.count}`
}

/** A paragraph of figures: [label, value, link?] each. */
function figures(/** @type {string} */ testid, /** @type {Array<[string, string, string?]>} */ items) {
  return h(
    'dl',
    { class: 'figures', 'data-testid': testid },
    items.map(([label, value, href]) =>
      h('div', { 'data-figure': label }, h('dt', {}, label), h('dd', {}, href ? link(href, value) : value)),
    ),
  )
}

/** A GET whose 404 means "nothing here". @template T @param {string} path @returns {Promise<T | null>} */
async function orNull(path) {
  try {
    return /** @type {T} */ (await getJson(path))
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null
    throw error
  }
}

/**
 * A "More" button that adds the next page of a table until `next` is null.
 * @param {string | null} first @param {(cursor: string) => Promise<string | null>} load @param {string} testid
 */
function moreButton(first, load, testid) {
  let next = first
  const button = h('button', { type: 'button', 'data-testid': testid, hidden: next === null }, 'More')
  button.addEventListener('click', async () => {
    if (next === null) return
    button.disabled = true
    try {
      next = await load(next)
      button.hidden = next === null
    } catch (error) {
      button.replaceWith(h('p', { class: 'error' }, error instanceof Error ? error.message : String(error)))
    }
    button.disabled = false
  })
  return button
}

/** The refusals table (state · command · reason · count), each row opening what is behind it. */
function refusalsTable(/** @type {Context} */ context, /** @type {{ machine: 'shipment' | 'truck', state: string, command: string, reason: string, count: number }[]} */ rows, withState = true) {
  const { words } = context
  return table({
    caption: 'Refused scans',
    testid: 'rejections',
    rowTestid: 'rejection-row',
    windowLabel: context.range.label,
    empty: 'No scan was refused in this window.',
    rows: [...rows].sort((a, b) => b.count - a.count),
    columns: [
      ...(withState ? [{ header: 'In state', text: (/** @type {typeof rows[number]} */ r) => stateLabel(words, r.state) }] : []),
      { header: 'Scan', text: (r) => commandLabel(words, r.command, r.machine) },
      { header: 'Why', text: (r) => reasonLabel(words, r.reason, r.machine) },
      { header: 'Count', numeric: true, text: (r) => String(r.count), href: (r) => routeHash({ view: 'rejections', state: r.state, command: r.command, reason: r.reason }) },
    ],
  })
}

/** Every refused-scan row of both charts, from their numbers. */
function refusedRows(/** @type {Numbers} */ numbers) {
  return /** @type {const} */ (['shipment', 'truck']).flatMap((machine) =>
    Object.entries(numbers.machines[machine].states).flatMap(([state, own]) => own.refused.map((r) => ({ machine, state, ...r }))),
  )
}

// --- overview -------------------------------------------------------------------------------------

/**
 * The overview: the window's figures (each a link), refused scans, the stuck shipments, the truck
 * board, where to look next, how to read the map.
 * @param {Context} context
 * @returns {Promise<View>}
 */
export async function renderOverview(context) {
  const { words } = context
  const [summary, stuck, board] = await Promise.all([
    /** @type {Promise<ReviewSummary>} */ (getJson(`/review/summary${context.query()}`)),
    /** @type {Promise<StuckShipments>} */ (getJson('/review/stuck?limit=10')),
    /** @type {Promise<TruckBoard>} */ (getJson(`/review/trucks${context.query()}`)),
  ])
  const entered = (/** @type {string} */ state) => summary.shipments.find((s) => s.state === state)?.entered ?? 0
  const total = summary.shipments.reduce((sum, s) => sum + s.now, 0)
  const refusals = h('div')
  const fillRefusals = (/** @type {Numbers} */ numbers) => refusals.replaceChildren(refusalsTable(context, refusedRows(numbers)).element)
  if (context.numbers) fillRefusals(context.numbers)
  const element = h(
    'section',
    { class: 'view', 'data-testid': 'overview' },
    h('h2', {}, 'Overview ', h('small', {}, context.range.label)),
    figures('summary', [
      ['Shipments known now', count(total)],
      ['Registered', count(entered('registered')), routeHash({ view: 'state', state: 'registered' })],
      ['Shipped', count(entered('shipped')), routeHash({ view: 'state', state: 'shipped' })],
      ['Delivered', count(entered('delivered')), routeHash({ view: 'state', state: 'delivered' })],
      ['Lead time, registered → delivered', percentilesText(summary.leadTime)],
      ['Scans accepted', count(summary.commands.accepted), routeHash({ view: 'devices' })],
      ['Scans refused', count(summary.commands.rejected), routeHash({ view: 'devices' })],
      ['Late scans (offline)', count(summary.commands.late), routeHash({ view: 'devices' })],
      ['Departures', `${count(summary.departures.count)} (${count(summary.departures.shipments)} shipments)`, routeHash({ view: 'trucks' })],
      ['Stuck now', count(summary.stuck.total), routeHash({ view: 'stuck' })],
    ]),
    h(
      'nav',
      { class: 'next', 'aria-label': 'Drill down' },
      h('span', {}, 'Who: ', link(routeHash({ view: 'devices' }), 'devices'), ', ', link(routeHash({ view: 'operators' }), 'operators')),
      h('span', {}, 'Where: ', link(routeHash({ view: 'destinations' }), 'destinations'), ', ', link(routeHash({ view: 'trucks' }), 'trucks')),
      h('span', {}, link(routeHash({ view: 'compare' }), 'Compared with the day and the week before')),
      h('span', {}, link(routeHash({ view: 'report' }), 'Printable report')),
    ),
    refusals,
    stuckTable(context, stuck, `Stuck (more than ${duration(stuck.thresholdMs)} in a state), longest first`, 'stuck').element,
    stuck.total > stuck.items.length ? h('p', {}, link(routeHash({ view: 'stuck' }), `All ${count(stuck.total)} stuck shipments →`, { 'data-testid': 'stuck-all' })) : null,
    truckBoardTable(context, board).element,
    h('h3', {}, 'Open a shipment'),
    openShipmentForm(),
    h('h3', {}, 'How to read the map'),
    legendList(words),
  )
  return { element, onNumbers: fillRefusals, onEvent: () => true }
}

/** The legend: every mark on the charts, from the server's words, with a sample of each. */
export function legendList(/** @type {Glossary} */ words) {
  return h(
    'ul',
    { class: 'legend', 'data-testid': 'legend' },
    words.legend.map((entry) => h('li', { 'data-mark': entry.mark }, h('span', { class: `mark mark-${entry.mark}`, 'aria-hidden': 'true' }), entry.text)),
  )
}

function openShipmentForm() {
  const input = h('input', { name: 'shipment', required: true, pattern: '[A-Za-z0-9._\\-]{1,64}', placeholder: 'shipment id', 'aria-label': 'shipment id', autocomplete: 'off' })
  return h(
    'form',
    {
      class: 'inline',
      'data-testid': 'open-shipment',
      onsubmit: (/** @type {Event} */ event) => {
        event.preventDefault()
        location.hash = routeHash({ view: 'shipment', shipmentId: input.value.trim() })
      },
    },
    input,
    h('button', { type: 'submit' }, 'Open'),
  )
}

/** @param {Context} context @param {StuckShipments} page @param {string} caption @param {string} testid */
function stuckTable(context, page, caption, testid) {
  const { words } = context
  return table({
    caption,
    testid,
    windowLabel: 'now',
    empty: 'Nothing is stuck.',
    rows: page.items,
    columns: [
      { header: 'Shipment', text: (s) => s.shipmentId, href: (s) => routeHash({ view: 'shipment', shipmentId: s.shipmentId }) },
      { header: 'State', text: (s) => stateLabel(words, s.state), href: (s) => routeHash({ view: 'state', state: s.state }) },
      { header: 'For', numeric: true, text: (s) => duration(s.forMs) },
      { header: 'Since', text: (s) => timeText(s.since) },
      { header: 'Destination', text: (s) => s.destination ?? '–' },
      { header: 'Truck', text: (s) => s.truckId ?? '–' },
    ],
  })
}

/** @param {Context} context @param {TruckBoard} board */
function truckBoardTable(context, board) {
  const { words } = context
  return table({
    caption: 'Truck board',
    testid: 'truck-board',
    windowLabel: context.range.label,
    empty: 'No truck was opened at a dock.',
    rows: board.items,
    columns: [
      { header: 'Truck', text: (t) => t.truckId, href: (t) => routeHash({ view: 'truck', truckId: t.truckId }) },
      { header: 'State', text: (t) => stateLabel(words, t.state) },
      { header: 'Load', numeric: true, text: (t) => (t.capacity === null ? `${t.load}` : `${t.load} / ${t.capacity}`) },
      { header: 'Destination', text: (t) => t.destination ?? '–' },
      { header: `Departures (${context.range.label})`, numeric: true, text: (t) => String(t.departures) },
      { header: 'Shipments that left', numeric: true, text: (t) => String(t.shipped) },
      { header: 'Last departure', text: (t) => timeText(t.lastDepartureAt ?? t.departedAt) },
    ],
  })
}

// --- states ---------------------------------------------------------------------------------------

/**
 * A state: what it means, its numbers and refusals, and what is in it now — shipments sorted by time
 * in the state (with destination and truck, paged), or the trucks loading or on the road.
 * @param {Context} context
 * @param {string} stateId
 * @returns {Promise<View>}
 */
export async function renderState(context, stateId) {
  const { words } = context
  const machine = machineOf(words, stateId)
  const state = words.machines[machine].states[stateId]
  if (!state) return { element: h('section', { class: 'view' }, back(), h('p', {}, `The charts have no state “${stateId}”.`)) }
  const summary = h('p', { 'data-testid': 'state-summary' })
  const refusals = h('div')
  const fillNumbers = (/** @type {Numbers} */ numbers) => {
    const own = numbers.machines[machine].states[stateId]
    if (!own) return
    summary.replaceChildren(
      h('strong', { 'data-testid': 'state-count' }, `${count(own.count)} now`),
      own.dwell ? ` · stayed ${own.dwell}` : '',
      own.stuck ? ` · ${count(own.stuck)} stuck` : '',
      ` · ${context.range.label}`,
    )
    refusals.replaceChildren(refusalsTable(context, own.refused.map((r) => ({ machine, state: stateId, ...r })), false).element)
  }
  if (context.numbers) fillNumbers(context.numbers)
  const children = Object.entries(words.machines[machine].states).filter(([, s]) => s.parent === stateId)
  const element = h(
    'section',
    { class: 'view', 'data-testid': 'state-panel', 'data-state': stateId },
    back(),
    h('h2', {}, state.label),
    state.description && h('p', { class: 'description' }, state.description),
    summary,
    children.length > 0 && h('p', {}, 'Contains: ', children.map(([id, c], i) => [i > 0 && ', ', link(routeHash({ view: 'state', state: id }), c.label)])),
    refusals,
  )
  const view = { element, selected: { machine, state: stateId }, onNumbers: fillNumbers }
  if (machine === 'truck') {
    if (stateId === words.machines.truck.initial) return view
    const board = /** @type {TruckBoard} */ (await getJson(`/review/trucks${context.query()}`))
    element.append(truckBoardTable(context, { ...board, items: board.items.filter((t) => t.state === stateId) }).element)
    return { ...view, onEvent: () => true }
  }
  if (state.type === 'compound' || stateId === words.machines.shipment.initial) return view
  element.append(await shipmentsInState(context, stateId, {}, state.type === 'final' ? 'latest' : 'longest'))
  // A live change re-reads the list (the reader's paging is kept only until then).
  return { ...view, onEvent: () => true }
}

/**
 * The shipments in a state now, a page at a time, longest there first (or latest first).
 * @param {Context} context @param {string} stateId @param {{ destination?: string | null }} filter @param {'longest' | 'latest'} order
 */
async function shipmentsInState(context, stateId, filter, order) {
  const { words } = context
  const box = h('div', { class: 'in-state', 'data-testid': `in-state-${stateId}` })
  const show = async (/** @type {'longest' | 'latest'} */ order) => {
    const base = new URLSearchParams({ order, limit: String(pageSize) })
    if (filter.destination === null) base.set('noDestination', 'true')
    else if (filter.destination !== undefined) base.set('destination', filter.destination)
    const read = (/** @type {string | null} */ cursor) => {
      const params = new URLSearchParams(base)
      if (cursor) params.set('cursor', cursor)
      return /** @type {Promise<StateShipments>} */ (getJson(`/review/states/${encodeURIComponent(stateId)}/shipments?${params}`))
    }
    const first = await read(null)
    const list = table({
      caption: `${stateLabel(words, stateId)} now — ${count(first.total)}, ${order === 'longest' ? 'longest there first' : 'latest first'}`,
      testid: 'shipment-list',
      rowTestid: 'shipment-item',
      windowLabel: 'now',
      empty: 'No shipment is here now.',
      rows: first.items,
      columns: [
        { header: 'Shipment', text: (s) => s.shipmentId, href: (s) => routeHash({ view: 'shipment', shipmentId: s.shipmentId }) },
        { header: 'In this state for', numeric: true, text: (s) => duration(s.forMs) },
        { header: 'Since', text: (s) => timeText(s.since) },
        { header: 'Destination', text: (s) => s.destination ?? '–' },
        { header: 'Truck', text: (s) => s.truckId ?? '–' },
      ],
    })
    const more = moreButton(first.next, async (cursor) => {
      const page = await read(cursor)
      list.add(page.items)
      return page.next
    }, 'more')
    const toggle = h(
      'div',
      { class: 'inline', role: 'group', 'aria-label': 'order' },
      h('button', { type: 'button', 'aria-pressed': String(order === 'longest'), 'data-testid': 'order-longest', onclick: () => show('longest') }, 'Longest there first'),
      h('button', { type: 'button', 'aria-pressed': String(order === 'latest'), 'data-testid': 'order-latest', onclick: () => show('latest') }, 'Latest first'),
    )
    box.replaceChildren(toggle, list.element, more)
    box.dataset.total = String(first.total)
  }
  await show(order)
  return box
}

// --- refusals, stuck -----------------------------------------------------------------------------

/**
 * Behind one refusals row: the shipments (or trucks) refused, the devices and the operators.
 * @param {Context} context @param {{ state: string, command: string, reason: string }} row
 * @returns {Promise<View>}
 */
export async function renderRejections(context, row) {
  const { words } = context
  const read = (/** @type {string | null} */ cursor) =>
    /** @type {Promise<RejectionDrillDown>} */ (getJson(`/review/rejections${context.query({ ...row, limit: '50', ...(cursor ? { cursor } : {}) })}`))
  const first = await read(null)
  const machine = machineOf(words, row.state)
  const subjects = table({
    caption: machine === 'truck' ? 'Trucks refused' : 'Shipments refused',
    testid: 'refused-subjects',
    windowLabel: context.range.label,
    empty: 'None in this window.',
    rows: first.subjects.items,
    columns: [
      { header: machine === 'truck' ? 'Truck' : 'Shipment', text: (s) => s.id, href: (s) => routeHash(s.kind === 'truck' ? { view: 'truck', truckId: s.id } : { view: 'shipment', shipmentId: s.id }) },
      { header: 'Refused', numeric: true, text: (s) => String(s.count) },
      { header: 'Late scans', numeric: true, text: (s) => String(s.late) },
      { header: 'Last refused', text: (s) => timeText(s.lastAt) },
    ],
  })
  const element = h(
    'section',
    { class: 'view', 'data-testid': 'rejections-view' },
    back(),
    h(
      'h2',
      { 'data-testid': 'rejections-title' },
      `${stateLabel(words, row.state)} · ${commandLabel(words, row.command, machine)} · ${reasonLabel(words, row.reason, machine)} · ${count(first.total)}`,
    ),
    figures('rejections-figures', [
      ['Refused', count(first.total)],
      ['Late scans among them', count(first.late)],
      [machine === 'truck' ? 'Trucks' : 'Shipments', count(first.subjects.total)],
    ]),
    subjects.element,
    moreButton(first.subjects.next, async (cursor) => {
      const page = await read(cursor)
      subjects.add(page.subjects.items)
      return page.subjects.next
    }, 'more'),
    table({
      caption: 'Devices',
      testid: 'refused-devices',
      windowLabel: context.range.label,
      empty: 'None.',
      rows: first.devices,
      columns: [
        { header: 'Device', text: (d) => d.deviceId, href: (d) => routeHash({ view: 'device', deviceId: d.deviceId }) },
        { header: 'Refused', numeric: true, text: (d) => String(d.count) },
        { header: 'Late scans', numeric: true, text: (d) => String(d.late) },
      ],
    }).element,
    table({
      caption: 'Operators',
      testid: 'refused-operators',
      windowLabel: context.range.label,
      empty: 'None.',
      rows: first.operators,
      columns: [
        { header: 'Operator', text: (o) => o.operatorId ?? 'not given', href: (o) => (o.operatorId === null ? null : routeHash({ view: 'operator', operatorId: o.operatorId })) },
        { header: 'Refused', numeric: true, text: (o) => String(o.count) },
        { header: 'Late scans', numeric: true, text: (o) => String(o.late) },
      ],
    }).element,
  )
  return { element, selected: { machine, state: row.state } }
}

/** Every stuck shipment, longest first, with the total, a page at a time. @param {Context} context @returns {Promise<View>} */
export async function renderStuck(context) {
  const read = (/** @type {string | null} */ cursor) => /** @type {Promise<StuckShipments>} */ (getJson(`/review/stuck?limit=50${cursor ? `&cursor=${cursor}` : ''}`))
  const first = await read(null)
  const list = stuckTable(context, first, `Stuck: ${count(first.total)} shipments in a state for more than ${duration(first.thresholdMs)}, longest first`, 'stuck')
  const element = h(
    'section',
    { class: 'view', 'data-testid': 'stuck-view', 'data-total': String(first.total) },
    back(),
    h('h2', {}, 'Stuck shipments'),
    list.element,
    moreButton(first.next, async (cursor) => {
      const page = await read(cursor)
      list.add(page.items)
      return page.next
    }, 'more'),
  )
  return { element }
}

// --- who --------------------------------------------------------------------------------------------

/**
 * Per device or operator: scans in the window, accepted, refused, late, the reasons.
 * @param {Context} context @param {'device' | 'operator'} by
 * @returns {Promise<View>}
 */
export async function renderWho(context, by) {
  const { words } = context
  const answer = /** @type {DeviceActivity | OperatorActivity} */ (await getJson(`/review/${by}s${context.query()}`))
  /** @type {Array<{ id: string | null, commands: number, accepted: number, rejected: number, late: number, reasons: { reason: string, count: number }[] }>} */
  const rows = answer.items.map((r) => ({ ...r, id: 'deviceId' in r ? r.deviceId : r.operatorId }))
  const element = h(
    'section',
    { class: 'view', 'data-testid': `${by}s-view` },
    back(),
    h('h2', {}, by === 'device' ? 'Devices' : 'Operators', ' ', h('small', {}, context.range.label)),
    h('p', { class: 'quiet' }, "Scans sent by scanners (messages between a shipment and its truck are not counted). Late scans: refused scans made before the change that overtook them — a handheld that was offline."),
    table({
      caption: by === 'device' ? 'Scans per device' : 'Scans per operator',
      testid: `${by}s`,
      windowLabel: context.range.label,
      empty: 'No scan in this window.',
      rows,
      columns: [
        {
          header: by === 'device' ? 'Device' : 'Operator',
          text: (r) => r.id ?? 'not given',
          href: (r) => (r.id === null ? null : routeHash(by === 'device' ? { view: 'device', deviceId: r.id } : { view: 'operator', operatorId: r.id })),
        },
        { header: 'Scans', numeric: true, text: (r) => String(r.commands) },
        { header: 'Accepted', numeric: true, text: (r) => String(r.accepted) },
        { header: 'Refused', numeric: true, text: (r) => String(r.rejected) },
        { header: 'Late', numeric: true, text: (r) => String(r.late) },
        { header: 'Refused because', text: (r) => r.reasons.map((x) => `${reasonLabel(words, x.reason)} ${x.count}`).join('; ') },
      ],
    }).element,
    h('p', {}, by === 'device' ? link(routeHash({ view: 'operators' }), 'Per operator →') : link(routeHash({ view: 'devices' }), 'Per device →')),
  )
  return { element, onEvent: () => true }
}

/**
 * One device or operator: scans per type, refusals by reason, and its refused scans (newest first).
 * @param {Context} context @param {'device' | 'operator'} by @param {string} id
 * @returns {Promise<View>}
 */
export async function renderWhoDetail(context, by, id) {
  const { words } = context
  const read = (/** @type {string | null} */ cursor) =>
    /** @type {Promise<WhoDetail>} */ (getJson(`/review/${by}s/${encodeURIComponent(id)}${context.query({ limit: '50', ...(cursor ? { cursor } : {}) })}`))
  const first = await read(null)
  const refused = table({
    caption: 'Refused scans, newest first',
    testid: 'refused-commands',
    windowLabel: context.range.label,
    empty: 'No refused scan in this window.',
    rows: first.refused.items,
    columns: [
      { header: 'Decided', text: (c) => timeText(c.decidedAt) },
      { header: 'Of', text: (c) => c.subject.id, href: (c) => routeHash(c.subject.kind === 'truck' ? { view: 'truck', truckId: c.subject.id } : { view: 'shipment', shipmentId: c.subject.id }) },
      { header: 'Scan', text: (c) => commandLabel(words, c.command, c.subject.kind) },
      { header: 'In state', text: (c) => stateLabel(words, c.state) },
      { header: 'Why', text: (c) => reasonLabel(words, c.reason, c.subject.kind) },
      { header: by === 'device' ? 'Operator' : 'Device', text: (c) => (by === 'device' ? (c.operatorId ?? 'not given') : c.deviceId) },
      { header: 'Scanned', text: (c) => timeText(c.scannedAt) },
      { header: 'Late', text: (c) => (c.late ? 'late' : '') },
    ],
  })
  const element = h(
    'section',
    { class: 'view', 'data-testid': `${by}-view`, [`data-${by}`]: id },
    h('p', { class: 'crumbs' }, link('#/', '← Overview'), ' · ', link(routeHash({ view: by === 'device' ? 'devices' : 'operators' }), by === 'device' ? 'all devices' : 'all operators')),
    h('h2', {}, by === 'device' ? 'Device ' : 'Operator ', h('span', { class: 'id' }, id), ' ', h('small', {}, context.range.label)),
    figures(`${by}-figures`, [
      ['Scans', count(first.commands)],
      ['Accepted', count(first.accepted)],
      ['Refused', count(first.rejected)],
      ['Late scans', count(first.late)],
    ]),
    table({
      caption: 'Scans per type',
      testid: 'by-command',
      windowLabel: context.range.label,
      empty: 'No scan in this window.',
      rows: first.byCommand,
      columns: [
        { header: 'Scan', text: (c) => commandLabel(words, c.command) },
        { header: 'Accepted', numeric: true, text: (c) => String(c.accepted) },
        { header: 'Refused', numeric: true, text: (c) => String(c.rejected) },
        { header: 'Late', numeric: true, text: (c) => String(c.late) },
      ],
    }).element,
    table({
      caption: 'Refused because',
      testid: 'reasons',
      windowLabel: context.range.label,
      empty: 'Nothing was refused.',
      rows: first.reasons,
      columns: [
        { header: 'Why', text: (r) => reasonLabel(words, r.reason) },
        { header: 'Count', numeric: true, text: (r) => String(r.count) },
      ],
    }).element,
    refused.element,
    moreButton(first.refused.next, async (cursor) => {
      const page = await read(cursor)
      refused.add(page.refused.items)
      return page.refused.next
    }, 'more'),
  )
  return { element }
}

// --- where ------------------------------------------------------------------------------------------

/** Per destination: what is there now, what moved in the window, lead time, refusals. @param {Context} context @returns {Promise<View>} */
export async function renderDestinations(context) {
  const answer = /** @type {DestinationActivity} */ (await getJson(`/review/destinations${context.query()}`))
  const element = h(
    'section',
    { class: 'view', 'data-testid': 'destinations-view' },
    back(),
    h('h2', {}, 'Destinations ', h('small', {}, context.range.label)),
    table({
      caption: 'Per destination',
      testid: 'destinations',
      windowLabel: context.range.label,
      empty: 'No shipment yet.',
      rows: answer.items,
      columns: [
        { header: 'Destination', text: (d) => d.destination ?? 'none given', href: (d) => routeHash({ view: 'destination', destination: d.destination }) },
        { header: 'Registered now', numeric: true, text: (d) => String(d.now.registered) },
        { header: 'Assigned now', numeric: true, text: (d) => String(d.now.assigned) },
        { header: 'Shipped now', numeric: true, text: (d) => String(d.now.shipped) },
        { header: `Registered (${context.range.label})`, numeric: true, text: (d) => String(d.entered.registered) },
        { header: `Delivered (${context.range.label})`, numeric: true, text: (d) => String(d.entered.delivered) },
        { header: 'Lead time p50', numeric: true, text: (d) => duration(d.leadTime.p50Ms) },
        { header: 'Lead time p95', numeric: true, text: (d) => duration(d.leadTime.p95Ms) },
        { header: 'Refused scans', numeric: true, text: (d) => String(d.rejected) },
      ],
    }).element,
  )
  return { element, onEvent: () => true }
}

/** One destination: its shipments waiting at the depot and on the road, longest first. @param {Context} context @param {string | null} destination @returns {Promise<View>} */
export async function renderDestination(context, destination) {
  const lists = await Promise.all(['registered', 'assigned', 'shipped'].map((state) => shipmentsInState(context, state, { destination }, 'longest')))
  const element = h(
    'section',
    { class: 'view', 'data-testid': 'destination-view', 'data-destination': destination ?? '' },
    h('p', { class: 'crumbs' }, link('#/', '← Overview'), ' · ', link(routeHash({ view: 'destinations' }), 'all destinations')),
    h('h2', {}, destination === null ? 'Shipments without a destination' : `To ${destination}`),
    lists,
  )
  return { element, onEvent: () => true }
}

/** The truck board, and the truck chart's numbers in words. @param {Context} context @returns {Promise<View>} */
export async function renderTrucks(context) {
  const board = /** @type {TruckBoard} */ (await getJson(`/review/trucks${context.query()}`))
  const element = h(
    'section',
    { class: 'view', 'data-testid': 'trucks-view' },
    back(),
    h('h2', {}, 'Trucks ', h('small', {}, context.range.label)),
    figures('truck-figures', [
      ['Loading', count(board.items.filter((t) => t.state === 'loading').length), routeHash({ view: 'state', state: 'loading' })],
      ['Departed', count(board.items.filter((t) => t.state === 'departed').length), routeHash({ view: 'state', state: 'departed' })],
      ['Departures', count(board.items.reduce((sum, t) => sum + t.departures, 0))],
      ['Shipments that left', count(board.items.reduce((sum, t) => sum + t.shipped, 0))],
    ]),
    truckBoardTable(context, board).element,
  )
  return { element, onEvent: () => true }
}

/** One truck: now, its departures in the window, the shipments on it. @param {Context} context @param {string} truckId @returns {Promise<View>} */
export async function renderTruck(context, truckId) {
  const { words } = context
  const found = /** @type {TruckReview | null} */ (await orNull(`/review/trucks/${encodeURIComponent(truckId)}${context.query()}`))
  if (!found) return { element: h('section', { class: 'view' }, back(), h('h2', {}, `Truck ${truckId}`), h('p', {}, 'This truck was never opened at a dock.')) }
  const { truck } = found
  const element = h(
    'section',
    { class: 'view', 'data-testid': 'truck-view', 'data-truck': truckId },
    h('p', { class: 'crumbs' }, link('#/', '← Overview'), ' · ', link(routeHash({ view: 'trucks' }), 'all trucks')),
    h('h2', {}, 'Truck ', h('span', { class: 'id' }, truckId)),
    figures('truck-facts', [
      ['State', stateLabel(words, truck.state), routeHash({ view: 'state', state: truck.state })],
      ['Load', truck.capacity === null ? String(truck.load) : `${truck.load} / ${truck.capacity}`],
      ['Destination', truck.destination ?? '–'],
      ['Opened', timeText(truck.openedAt)],
      ['Departed', timeText(truck.departedAt)],
    ]),
    table({
      caption: `Departures (${context.range.label})`,
      testid: 'departures',
      windowLabel: context.range.label,
      empty: 'No departure in this window.',
      rows: found.departures,
      columns: [
        { header: 'Departed', text: (d) => timeText(d.departedAt) },
        { header: 'Shipments', numeric: true, text: (d) => String(d.load) },
        { header: 'Device', text: (d) => d.deviceId ?? '–' },
        { header: 'Operator', text: (d) => d.operatorId ?? '–' },
      ],
    }).element,
    table({
      caption: truck.state === 'departed' ? 'Left with it' : 'On it now',
      testid: 'manifest',
      windowLabel: 'now',
      empty: 'Empty.',
      rows: found.manifest,
      columns: [
        { header: 'Shipment', text: (s) => s.shipmentId, href: (s) => routeHash({ view: 'shipment', shipmentId: s.shipmentId }) },
        { header: 'State', text: (s) => (s.state === null ? '–' : stateLabel(words, s.state)) },
        { header: 'Destination', text: (s) => s.destination ?? '–' },
      ],
    }).element,
  )
  return { element, selected: { machine: 'truck', state: truck.state }, onEvent: (event) => event.truckId === truckId }
}

// --- compared with ---------------------------------------------------------------------------------

/** The window hour by hour beside the day and the week before. @param {Context} context @returns {Promise<View>} */
export async function renderCompare(context) {
  const { words } = context
  const heading = [back(), h('h2', {}, 'Compared with the day and the week before ', h('small', {}, context.range.label))]
  if (!comparable(context.range, context.now())) {
    return { element: h('section', { class: 'view', 'data-testid': 'compare-view' }, heading, h('p', { 'data-testid': 'compare-unavailable' }, 'Choose a window that starts somewhere and lasts at most 7 days (today, yesterday, the last hour or a custom one) to compare it.')) }
  }
  const comparison = /** @type {Comparison} */ (await getJson(`/review/compare${context.query()}`))
  const [now, day, week] = comparison.series
  if (!now || !day || !week) throw new Error('the comparison lacks a series')
  const states = /** @type {const} */ (['registered', 'assigned', 'shipped', 'delivered', 'cancelled'])
  const element = h(
    'section',
    { class: 'view', 'data-testid': 'compare-view' },
    heading,
    h('p', { class: 'quiet' }, 'Throughput: shipments that entered a state. Dwell: how long the stays that ended lasted (median).'),
    table({
      caption: 'Totals',
      testid: 'compare-totals',
      windowLabel: context.range.label,
      empty: '–',
      rows: [
        ...states.map((s) => ({ what: `Entered ${stateLabel(words, s)}`, now: String(now.entered[s]), day: String(day.entered[s]), week: String(week.entered[s]), change: change(now.entered[s], day.entered[s]) })),
        ...['registered', 'assigned', 'shipped'].map((s) => ({
          what: `Stay in ${stateLabel(words, s)} (p50)`,
          now: duration(now.dwell[s]?.p50Ms),
          day: duration(day.dwell[s]?.p50Ms),
          week: duration(week.dwell[s]?.p50Ms),
          change: '',
        })),
        { what: 'Lead time (p50)', now: duration(now.leadTime.p50Ms), day: duration(day.leadTime.p50Ms), week: duration(week.leadTime.p50Ms), change: '' },
      ],
      columns: [
        { header: '', text: (r) => r.what },
        { header: context.range.label, numeric: true, text: (r) => r.now },
        { header: 'A day before', numeric: true, text: (r) => r.day },
        { header: 'A week before', numeric: true, text: (r) => r.week },
        { header: 'Change vs a day before', numeric: true, text: (r) => r.change },
      ],
    }).element,
    table({
      caption: 'Hour by hour',
      testid: 'compare-hours',
      windowLabel: context.range.label,
      empty: '–',
      rows: comparisonRows(comparison, hourText),
      columns: [
        { header: 'Hour', text: (r) => r.hour },
        { header: 'State changes', numeric: true, text: (r) => String(r.moves[0]) },
        { header: 'A day before', numeric: true, text: (r) => String(r.moves[1]) },
        { header: 'A week before', numeric: true, text: (r) => String(r.moves[2]) },
        { header: 'Median stay', numeric: true, text: (r) => duration(r.dwell[0]) },
        { header: 'A day before', numeric: true, text: (r) => duration(r.dwell[1]) },
        { header: 'A week before', numeric: true, text: (r) => duration(r.dwell[2]) },
      ],
    }).element,
  )
  return { element }
}

// --- the printable report ----------------------------------------------------------------------------

/**
 * The daily report: one A4 page with the chart and its numbers (the server's SVG with numbers and
 * legend), the window's figures, the refusals and the trucks. Printed with the browser (app.css @media print).
 * @param {Context} context
 * @returns {Promise<View>}
 */
export async function renderReport(context) {
  const { words } = context
  const [svgText, summary, board] = await Promise.all([
    getText(`/viz/chart.svg${context.query({ numbers: 'true' })}`, 'image/svg+xml'),
    /** @type {Promise<ReviewSummary>} */ (getJson(`/review/summary${context.query()}`)),
    /** @type {Promise<TruckBoard>} */ (getJson(`/review/trucks${context.query()}`)),
  ])
  const parsed = new DOMParser().parseFromString(svgText, 'image/svg+xml')
  const chart = document.importNode(parsed.documentElement, true)
  chart.removeAttribute('width')
  chart.removeAttribute('height')
  const entered = (/** @type {string} */ state) => summary.shipments.find((s) => s.state === state)?.entered ?? 0
  const refused = context.numbers ? refusedRows(context.numbers).sort((a, b) => b.count - a.count).slice(0, 6) : []
  const element = h(
    'section',
    { class: 'view report', 'data-testid': 'report' },
    h('p', { class: 'crumbs no-print' }, link('#/', '← Overview'), ' · ', h('button', { type: 'button', 'data-testid': 'print', onclick: () => window.print() }, 'Print')),
    h('h2', {}, `Waybill depot report — ${context.range.label}`),
    h('p', { class: 'quiet' }, `${timeText(summary.window.from)} – ${timeText(summary.window.to)} · generated ${timeText(summary.generatedAt)}`),
    h('div', { class: 'report-chart', 'data-testid': 'report-chart' }, chart),
    h(
      'div',
      { class: 'report-columns' },
      figures('report-figures', [
        ['Registered', count(entered('registered'))],
        ['Delivered', count(entered('delivered'))],
        ['Lead time', percentilesText(summary.leadTime)],
        ['Scans accepted / refused / late', `${count(summary.commands.accepted)} / ${count(summary.commands.rejected)} / ${count(summary.commands.late)}`],
        ['Departures (shipments)', `${count(summary.departures.count)} (${count(summary.departures.shipments)})`],
        ['Stuck now', count(summary.stuck.total)],
        ['Trucks loading / departed', `${board.items.filter((t) => t.state === 'loading').length} / ${board.items.filter((t) => t.state === 'departed').length}`],
      ]),
      table({
        caption: 'Most refused scans',
        testid: 'report-refusals',
        windowLabel: context.range.label,
        empty: 'No scan was refused.',
        rows: refused,
        columns: [
          { header: 'In state', text: (r) => stateLabel(words, r.state) },
          { header: 'Scan', text: (r) => commandLabel(words, r.command, r.machine) },
          { header: 'Why', text: (r) => reasonLabel(words, r.reason, r.machine) },
          { header: 'Count', numeric: true, text: (r) => String(r.count) },
        ],
      }).element,
    ),
  )
  return { element }
}

// --- a shipment ----------------------------------------------------------------------------------------

/**
 * A paged history (`GET …?after=&limit=` ⇒ `{ [key]: [...], next }`): `more()` fetches the following
 * page, so no single request reads a whole long history. A 404 is an empty history.
 * @template T
 * @param {{ get: (path: string) => Promise<any> }} api
 * @param {string} path
 * @param {string} key
 */
export function pagedHistory(api, path, key) {
  /** @type {T[]} */
  const items = []
  /** @type {number | null} */
  let next = 0
  return {
    items,
    get done() {
      return next === null
    },
    /** @returns {Promise<T[]>} */
    async more() {
      if (next === null) return []
      let page
      try {
        page = await api.get(`${path}?after=${next}`)
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 404)) throw error
        page = { [key]: [], next: null }
      }
      items.push(...page[key])
      next = page.next ?? null
      return page[key]
    },
  }
}

/**
 * @typedef {{
 *   commandId: string, type: string, command: Record<string, unknown>, outcome: 'queued' | 'accepted' | 'rejected',
 *   reason: string | null, detail: string | null, state: string | null, version: number | null, position: number | null,
 *   deviceId: string, operatorId: string | null, scannedAt: string | null, receivedAt: string, decidedAt: string | null,
 *   late: boolean, message: boolean,
 * }} TimelineCommand
 * @typedef {{ shipmentId: string, state: string, version: number, truckId: string | null, origin?: string, destination?: string, registeredAt: string, updatedAt: string, allowed: string[] }} Shipment
 */

/**
 * A shipment at a step (default: its latest): its state then and its path on the chart, its facts
 * (destination, truck, lead time, the departure that shipped it), and every command it was sent, in
 * words — accepted with the state it led to, refused with why, and the truck departure that shipped it.
 * @param {Context} context @param {string} shipmentId @param {number} [version]
 * @returns {Promise<View>}
 */
export async function renderShipment(context, shipmentId, version) {
  const { words } = context
  const id = encodeURIComponent(shipmentId)
  const timeline = /** @type {ReturnType<typeof pagedHistory<TimelineCommand>>} */ (pagedHistory({ get: getJson }, `/shipments/${id}/commands`, 'commands'))
  const [now, review] = await Promise.all([
    /** @type {Promise<Shipment | null>} */ (orNull(`/shipments/${id}`)),
    /** @type {Promise<ShipmentReview | null>} */ (orNull(`/review/shipments/${id}${version === undefined ? '' : `?version=${version}`}`)),
    timeline.more(),
  ])
  const crumbs = h('p', { class: 'crumbs' }, link('#/', '← Overview'), now && [' · ', link(routeHash({ view: 'state', state: now.state }), `all ${stateLabel(words, now.state)}`)])
  if (!now || !review) {
    return {
      element: h(
        'section',
        { class: 'view', 'data-testid': 'shipment-view', 'data-shipment': shipmentId },
        crumbs,
        h('h2', {}, 'Shipment ', h('span', { class: 'id' }, shipmentId)),
        timeline.items.length === 0 ? h('p', {}, 'No scan of this shipment ever reached the depot.') : [h('p', {}, 'Never registered: every scan of it was refused.'), timelineList(context, shipmentId, timeline.items, 0, null)],
      ),
    }
  }
  const at = review.version
  const latest = review.latest
  const then = /** @type {Shipment} */ (at === latest ? now : await getJson(`/shipments/${id}?version=${at}`))
  const step = (/** @type {number} */ to, /** @type {string} */ label, /** @type {string} */ testid) =>
    h('a', { class: 'button', role: 'button', href: routeHash({ view: 'shipment', shipmentId, version: to }), 'data-testid': testid, 'aria-disabled': to === at || to < 1 || to > latest ? 'true' : null }, label)
  const departure = review.departure
  const facts = h(
    'dl',
    { class: 'facts', 'data-testid': 'shipment-facts' },
    h('dt', {}, 'state'),
    h('dd', { 'data-testid': 'shipment-state', 'data-state': then.state }, stateLabel(words, then.state)),
    h('dt', {}, 'truck'),
    h('dd', {}, then.truckId ? link(routeHash({ view: 'truck', truckId: then.truckId }), then.truckId) : '–'),
    (then.origin || then.destination) && [h('dt', {}, 'route'), h('dd', {}, `${then.origin ?? '?'} → ${then.destination ?? '?'}`)],
    h('dt', {}, 'as of'),
    h('dd', {}, time(then.updatedAt)),
    at === latest && [h('dt', {}, `in ${stateLabel(words, review.state)} for`), h('dd', {}, duration(context.now() - Date.parse(review.since)))],
    review.leadMs !== null && [h('dt', {}, 'lead time'), h('dd', { 'data-testid': 'lead-time' }, duration(review.leadMs))],
    departure && [h('dt', {}, 'shipped by'), h('dd', { 'data-testid': 'shipped-by' }, departureText(departure))],
    at === latest && [h('dt', {}, 'may now'), h('dd', {}, then.allowed.length ? then.allowed.map((c) => commandLabel(words, c, 'shipment')).join(', ') : 'nothing (final)')],
  )
  const list = timelineList(context, shipmentId, timeline.items, at, departure)
  const more = h('button', { type: 'button', 'data-testid': 'timeline-more', hidden: timeline.done }, 'More of the timeline')
  more.addEventListener('click', async () => {
    more.disabled = true
    try {
      const page = await timeline.more()
      list.append(...page.map((c) => timelineEntry(context, shipmentId, c, at, departure)))
      more.hidden = timeline.done
      more.disabled = false
    } catch (error) {
      more.replaceWith(h('p', { class: 'error' }, error instanceof Error ? error.message : String(error)))
    }
  })
  const element = h(
    'section',
    { class: 'view', 'data-testid': 'shipment-view', 'data-shipment': shipmentId, 'data-version': String(at) },
    crumbs,
    h('h2', {}, 'Shipment ', h('span', { class: 'id' }, shipmentId)),
    h(
      'nav',
      { class: 'travel', 'data-testid': 'time-travel', 'aria-label': 'history' },
      step(at - 1, '◀ Previous', 'step-back'),
      h('span', { 'data-testid': 'version-label' }, `step ${at} of ${latest}`),
      step(at + 1, 'Next ▶', 'step-forward'),
      step(latest, 'Latest', 'step-latest'),
    ),
    facts,
    h('h3', {}, 'Timeline'),
    h('p', { class: 'quiet' }, 'Every scan of this shipment in arrival order, and the truck departure that shipped it: accepted ones with where they led, refused ones with why.'),
    list,
    more,
  )
  // Follow the shipment live when showing its latest step; a reader stepping through history keeps their place.
  return { element, path: review.path && { ...review.path, current: review.current }, onEvent: (event) => event.shipmentId === shipmentId && version === undefined }
}

/** A truck's answer to a shipment, in words: "Truck T05 gave it a place", "Truck T05 refused: the truck is full". @param {Glossary} words @param {Record<string, unknown>} answer */
function truckAnswer(words, answer) {
  const truck = `Truck ${String(answer.truckId ?? '')}`
  if (answer.outcome !== 'accepted') return `${truck} refused: ${reasonLabel(words, typeof answer.reason === 'string' ? answer.reason : null, 'truck')}`
  return answer.step === 'unload' ? `${truck} took it off its load` : `${truck} gave it a place`
}

/** A command's fields, as the timeline says them: "(truck T1)", "(to Lyon)". @type {Record<string, string>} */
const fieldWords = { truckId: 'truck', origin: 'from', destination: 'to', receivedBy: 'received by', reason: 'because', capacity: 'capacity' }

/** "truck T03's departure, Mar 2, 09:40 — 17 shipments, sent by scanner-2 (op-2)" @param {NonNullable<ShipmentReview['departure']>} d */
function departureText(d) {
  return [
    link(routeHash({ view: 'truck', truckId: d.truckId }), `truck ${d.truckId}`),
    `'s departure, ${timeText(d.departedAt)} — ${d.load} shipment${d.load === 1 ? '' : 's'} on it`,
    d.deviceId ? `, sent by ${d.deviceId}${d.operatorId ? ` (${d.operatorId})` : ''}` : '',
  ]
}

/** @param {Context} context @param {string} shipmentId @param {TimelineCommand[]} commands @param {number} at @param {ShipmentReview['departure']} departure */
function timelineList(context, shipmentId, commands, at, departure) {
  return h('ol', { class: 'timeline', 'data-testid': 'timeline' }, commands.map((c) => timelineEntry(context, shipmentId, c, at, departure)))
}

/**
 * One command in words: "✓ Assign to a truck (truck: T03) → assigned, step 2"; "✗ Deliver — not
 * allowed in this state (registered)"; "✓ Left with truck T03's departure …".
 * @param {Context} context @param {string} shipmentId @param {TimelineCommand} c @param {number} at @param {ShipmentReview['departure']} departure
 */
function timelineEntry(context, shipmentId, c, at, departure) {
  const { words } = context
  const version = c.version ?? 0
  const future = c.outcome === 'queued' ? false : version > at
  // A message between actors says what it did in words; its fields are the saga's own business.
  const payload = c.message ? [] : Object.entries(c.command ?? {}).filter(([key]) => key !== 'scannedAt' && key !== 'operatorId')
  // Accepted with an event: the step it made (a truck's answer is accepted without one).
  const entered = c.outcome === 'accepted' && c.position !== null && c.version !== null
  const byDeparture = c.type === 'DEPART_SHIP'
  return h(
    'li',
    {
      class: `entry ${c.outcome}${future ? ' is-future' : ''}${entered && version === at ? ' is-current' : ''}${c.message ? ' message' : ''}`,
      'data-testid': 'timeline-entry',
      'data-outcome': c.outcome,
      'data-command': c.type,
    },
    h(
      'p',
      { class: 'what' },
      h('span', { class: 'outcome' }, c.outcome === 'accepted' ? '✓' : c.outcome === 'rejected' ? '✗' : '…'),
      ' ',
      h('strong', {}, c.type === 'TRUCK_REPLY' ? truckAnswer(words, c.command) : commandLabel(words, c.type, 'shipment')),
      payload.length > 0 && h('span', { class: 'payload' }, ` (${payload.map(([k, v]) => `${fieldWords[k] ?? k} ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ')})`),
      entered && [' → ', link(routeHash({ view: 'shipment', shipmentId, version }), `step ${version}`, { 'data-testid': 'goto-step' })],
      c.outcome === 'rejected' && c.state && ` in ${stateLabel(words, c.state)}`,
      c.outcome === 'queued' && ' waiting to be decided',
    ),
    byDeparture && departure && h('p', { class: 'departure', 'data-testid': 'departure' }, 'Shipped by ', departureText(departure)),
    c.outcome === 'rejected' &&
      h('p', { class: 'why', 'data-testid': 'why' }, reasonLabel(words, c.reason), c.detail ? ` — ${c.detail}` : '', c.late ? h('span', { class: 'late' }, ' · late scan (made before the change that overtook it)') : ''),
    h('p', { class: 'who' }, c.message ? 'sent by the truck, caused by a scan on ' : 'device ', h('strong', {}, c.deviceId), c.operatorId && [', operator ', h('strong', {}, c.operatorId)]),
    h('p', { class: 'when' }, c.scannedAt && ['scanned ', time(c.scannedAt), ' · '], 'received ', time(c.receivedAt), c.decidedAt && [' · decided ', time(c.decidedAt)]),
  )
}
