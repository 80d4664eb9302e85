// The side panel's views. Each `render…` builds its DOM from the server's answers and returns
// `{ element, path?, onStats?, onEvent? }`: the app puts `element` in the panel, highlights `path` on
// the chart, and hands later /stats answers and stream events to the view (a view updates itself in
// place or asks for a re-render by returning true from `onEvent`).

import { ApiError } from './api.js'
import { pathOf } from './chart.js'
import { count, duration, h, time } from './dom.js'

const pageSize = 25
const link = (hash, text, attributes = {}) => h('a', { href: hash, ...attributes }, text)
export const shipmentHash = (id, version) => `#/shipment/${encodeURIComponent(id)}${version === undefined ? '' : `/${version}`}`
export const stateHash = (id) => `#/state/${encodeURIComponent(id)}`

/** States that hold shipments (`GET /shipments?state=` accepts them): atomic ones after the initial. */
export const listable = (chart, state) => state.type !== 'compound' && state.id !== chart.initial

function rejectionTable(rejections, { withState }) {
  if (rejections.length === 0) return h('p', { class: 'quiet', 'data-testid': 'rejections-none' }, 'No rejected commands in this window.')
  return h(
    'table',
    { class: 'rejections', 'data-testid': 'rejections-table' },
    h('thead', {}, h('tr', {}, withState && h('th', {}, 'in state'), h('th', {}, 'command'), h('th', {}, 'reason'), h('th', { class: 'num' }, 'count'))),
    h(
      'tbody',
      {},
      rejections.map((r) =>
        h(
          'tr',
          { 'data-testid': 'rejection-row' },
          withState && h('td', {}, r.state),
          h('td', {}, r.command),
          h('td', {}, h('code', {}, r.reason)),
          h('td', { class: 'num' }, count(r.count)),
        ),
      ),
    ),
  )
}

/** The overview: totals, rejections and stuck shipments of the window, how to read the map. */
export function renderOverview({ stats, windowLabel }) {
  const element = h('section', { class: 'view', 'data-testid': 'overview' })
  const fill = (stats) => {
    if (!stats) return element.replaceChildren(h('p', { class: 'quiet' }, 'Loading numbers…'))
    const total = stats.states.reduce((sum, s) => sum + s.count, 0)
    const thresholdLabel = duration(stats.stuck.thresholdMs)
    element.replaceChildren(
      h('h2', {}, 'Overview'),
      h('p', { 'data-testid': 'totals' }, `${count(total)} shipments known; numbers on the chart are shipments now. `, `Traffic, dwell times and rejections: ${windowLabel()}.`),
      h('h3', {}, 'Rejected commands'),
      rejectionTable(stats.rejections, { withState: true }),
      h('h3', {}, `Stuck (in a state for more than ${thresholdLabel})`),
      stats.stuck.items.length === 0
        ? h('p', { class: 'quiet' }, 'Nothing is stuck.')
        : h(
            'ul',
            { class: 'plain', 'data-testid': 'stuck-list' },
            stats.stuck.items.map((s) => h('li', {}, link(shipmentHash(s.shipmentId), s.shipmentId), ` in ${s.state} for ${duration(s.forMs)}`)),
          ),
      h('h3', {}, 'Open a shipment'),
      openShipmentForm(),
      h('h3', {}, 'How to read the map'),
      h(
        'ul',
        { class: 'legend' },
        h('li', {}, 'Big number in a state: shipments in it now. Below: how long shipments stayed there (median p50, p95) in the window.'),
        h('li', {}, 'Arrows: the commands that move a shipment, with how often each was taken in the window; thicker means busier.'),
        h('li', {}, 'Red badge: commands refused in that state in the window (hover or open the state for the reasons).'),
        h('li', {}, 'Tap a state to list its shipments; tap a shipment to see its path and history.'),
      ),
    )
  }
  fill(stats)
  return { element, onStats: fill }
}

function openShipmentForm() {
  const input = h('input', { name: 'shipment', required: true, pattern: '[A-Za-z0-9._\\-]{1,64}', placeholder: 'shipment id', 'aria-label': 'shipment id', autocomplete: 'off' })
  return h(
    'form',
    {
      class: 'inline',
      'data-testid': 'open-shipment',
      onsubmit: (event) => {
        event.preventDefault()
        location.hash = shipmentHash(input.value.trim())
      },
    },
    input,
    h('button', { type: 'submit' }, 'Open'),
  )
}

/** A state: what it means, its numbers and rejections, and its shipments now (paged). */
export async function renderState({ api, chart, stats, windowLabel }, stateId) {
  const state = chart.states.find((s) => s.id === stateId)
  if (!state) return { element: h('section', { class: 'view' }, h('p', {}, `The chart has no state “${stateId}”.`)) }
  const summary = h('p', { 'data-testid': 'state-summary' })
  const rejections = h('div')
  const fillStats = (stats) => {
    if (!stats) return
    const own = stats.states.find((s) => s.state === stateId)
    summary.replaceChildren(
      ...(own
        ? [
            h('strong', {}, `${count(own.count)} now`),
            own.dwell?.samples ? ` · stayed p50 ${duration(own.dwell.p50Ms)}, p95 ${duration(own.dwell.p95Ms)} (${count(own.dwell.samples)} stays)` : '',
            own.stuck ? ` · ${count(own.stuck)} stuck` : '',
            ` · ${windowLabel()}`,
          ]
        : []),
    )
    rejections.replaceChildren(h('h3', {}, 'Refused here'), rejectionTable(stats.rejections.filter((r) => r.state === stateId), { withState: false }))
  }
  fillStats(stats)

  const children = chart.states.filter((s) => s.parent === stateId)
  const element = h(
    'section',
    { class: 'view', 'data-testid': 'state-panel', 'data-state': stateId },
    h('p', { class: 'crumbs' }, link('#/', '← Overview')),
    h('h2', {}, state.label, state.label !== state.id && h('small', {}, ` (${state.id})`)),
    state.description && h('p', { class: 'description' }, state.description),
    summary,
    children.length > 0 && h('p', {}, 'Contains: ', children.map((c, i) => [i > 0 && ', ', link(stateHash(c.id), c.label)])),
    rejections,
  )
  if (!listable(chart, state)) return { element, onStats: fillStats }

  const list = h('ul', { class: 'shipments', 'data-testid': 'shipment-list', 'aria-live': 'polite' })
  const more = h('button', { type: 'button', 'data-testid': 'more', hidden: true }, 'More')
  let cursor = null
  let pages = 0
  const loadPage = async () => {
    more.disabled = true
    const query = new URLSearchParams({ state: stateId, limit: String(pageSize), ...(cursor ? { cursor } : {}) })
    const page = await api.get(`/shipments?${query}`)
    pages += 1
    cursor = page.next
    list.append(
      ...page.items.map((s) =>
        h(
          'li',
          { 'data-testid': 'shipment-item', 'data-shipment': s.shipmentId },
          link(shipmentHash(s.shipmentId), s.shipmentId),
          h('span', { class: 'meta' }, s.truckId ? `truck ${s.truckId} · ` : '', 'since ', time(s.updatedAt)),
        ),
      ),
    )
    if (pages === 1 && page.items.length === 0) list.append(h('li', { class: 'quiet' }, 'No shipment is here now.'))
    more.hidden = !cursor
    more.disabled = false
  }
  more.addEventListener('click', () => loadPage().catch((error) => more.replaceWith(h('p', { class: 'error' }, error.message))))
  await loadPage()
  element.append(h('h3', {}, 'Shipments here now'), list, more)
  // A live change re-renders the list, unless the reader has paged further (their place is kept).
  return { element, onStats: fillStats, onEvent: () => pages === 1 }
}

/**
 * A shipment at `version` (default: latest): the state then, its path on the chart, every command it
 * was sent (accepted with its event, or rejected with the reason; who, when, why), and steps through
 * its history.
 */
export async function renderShipment({ api, chart }, shipmentId, version) {
  const id = encodeURIComponent(shipmentId)
  const orEmpty = (fallback) => (error) => {
    if (error instanceof ApiError && error.status === 404) return fallback
    throw error
  }
  const [now, { events }, { commands }] = await Promise.all([
    api.get(`/shipments/${id}`).catch(orEmpty(null)),
    api.get(`/shipments/${id}/events`).catch(orEmpty({ events: [] })),
    api.get(`/shipments/${id}/commands`).catch(orEmpty({ commands: [] })),
  ])
  const crumbs = h('p', { class: 'crumbs' }, link('#/', '← Overview'), now && [' · ', link(stateHash(now.state), `all ${now.state}`)])
  if (!now && commands.length === 0) {
    return { element: h('section', { class: 'view', 'data-testid': 'shipment-view' }, crumbs, h('h2', {}, shipmentId), h('p', {}, 'No command was ever sent to this shipment.')) }
  }

  const latest = now?.version ?? 0
  const at = Math.min(Math.max(Number.isInteger(version) ? version : latest, latest === 0 ? 0 : 1), latest)
  const then = at === latest ? now : await api.get(`/shipments/${id}?version=${at}`)
  const path = pathOf(chart, events, at)
  const byCommand = new Map(events.map((e) => [e.metadata?.commandId, e]))

  const step = (to, label, testid) =>
    h('a', { class: 'button', role: 'button', href: shipmentHash(shipmentId, to), 'data-testid': testid, 'aria-disabled': to === at || to < 1 || to > latest ? 'true' : null }, label)
  const travel = h(
    'nav',
    { class: 'travel', 'data-testid': 'time-travel', 'aria-label': 'history' },
    step(at - 1, '◀ Previous', 'step-back'),
    h('span', { 'data-testid': 'version-label' }, latest ? `step ${at} of ${latest}` : 'never registered'),
    step(at + 1, 'Next ▶', 'step-forward'),
    step(latest, 'Latest', 'step-latest'),
  )

  const facts = then
    ? h(
        'dl',
        { class: 'facts', 'data-testid': 'shipment-facts' },
        h('dt', {}, 'state'),
        h('dd', { 'data-testid': 'shipment-state' }, then.state),
        h('dt', {}, 'truck'),
        h('dd', {}, then.truckId ?? '–'),
        (then.origin || then.destination) && [h('dt', {}, 'route'), h('dd', {}, `${then.origin ?? '?'} → ${then.destination ?? '?'}`)],
        h('dt', {}, 'as of'),
        h('dd', {}, time(then.updatedAt)),
        at === latest && h('dt', {}, 'may now'),
        at === latest && h('dd', {}, then.allowed.length ? then.allowed.join(', ') : 'nothing (final)'),
      )
    : h('p', {}, 'Not registered: every command sent to it was refused.')

  const entry = (c) => {
    const event = c.outcome === 'accepted' ? byCommand.get(c.commandId) : undefined
    const decidedAt = c.version ?? 0
    const future = c.outcome === 'accepted' ? decidedAt > at : decidedAt > at || (c.outcome === 'queued' && at < latest)
    const payload = Object.entries(c.command ?? {}).filter(([key]) => key !== 'scannedAt' && key !== 'operatorId')
    return h(
      'li',
      {
        class: `entry ${c.outcome}${future ? ' is-future' : ''}${c.outcome === 'accepted' && decidedAt === at ? ' is-current' : ''}`,
        'data-testid': 'timeline-entry',
        'data-outcome': c.outcome,
        'data-command': c.type,
      },
      h(
        'p',
        { class: 'what' },
        h('span', { class: 'outcome' }, c.outcome === 'accepted' ? '✓ accepted' : c.outcome === 'rejected' ? '✗ rejected' : '… queued'),
        ' ',
        h('strong', {}, c.type),
        payload.length > 0 && h('span', { class: 'payload' }, ` (${payload.map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ')})`),
        event && [' → ', link(shipmentHash(shipmentId, event.version), `${event.type} (step ${event.version})`, { 'data-testid': 'goto-step' })],
        c.outcome === 'rejected' && c.state && ` in ${c.state}`,
      ),
      c.outcome === 'rejected' && h('p', { class: 'why', 'data-testid': 'why' }, h('code', {}, c.reason ?? 'rejected'), c.detail ? ` — ${c.detail}` : ''),
      h('p', { class: 'who' }, 'device ', h('strong', {}, c.deviceId), c.operatorId && [', operator ', h('strong', {}, c.operatorId)]),
      h(
        'p',
        { class: 'when' },
        c.scannedAt && ['scanned ', time(c.scannedAt), ' · '],
        'received ',
        time(c.receivedAt),
        c.decidedAt && [' · decided ', time(c.decidedAt)],
      ),
    )
  }

  const element = h(
    'section',
    { class: 'view', 'data-testid': 'shipment-view', 'data-shipment': shipmentId, 'data-version': String(at) },
    crumbs,
    h('h2', {}, 'Shipment ', h('span', { class: 'id' }, shipmentId)),
    travel,
    facts,
    h('h3', {}, 'Timeline'),
    h('p', { class: 'quiet' }, 'Every command sent to this shipment, in arrival order: accepted ones with the event they recorded, refused ones with the reason.'),
    h('ol', { class: 'timeline', 'data-testid': 'timeline' }, commands.map(entry)),
  )
  // Follow the shipment live when showing its latest step; a reader stepping through history keeps their place.
  return { element, path, onEvent: (event) => event.shipmentId === shipmentId && version === undefined }
}
