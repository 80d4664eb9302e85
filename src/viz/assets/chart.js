// The chart on the page: the server's SVG (GET /viz/chart.svg), mounted once; afterwards only its
// numbers, edge widths and highlights change. The element contract (ids, classes, data-slot) is
// documented in src/viz/svg.ts; the machine's structure comes from GET /machines/shipment.

import { count, duration } from './dom.js'

const svgNamespace = 'http://www.w3.org/2000/svg'

/** Parses the server's SVG and puts it into `container`; `onSelect(stateId)` on click or Enter. */
export function mountChart(container, svgText, chart, onSelect) {
  const parsed = new DOMParser().parseFromString(svgText, 'image/svg+xml')
  if (parsed.querySelector('parsererror') || parsed.documentElement.localName !== 'svg') throw new Error('the chart is not valid SVG')
  const svg = document.importNode(parsed.documentElement, true)
  // Scale with the page: the viewBox keeps the proportions.
  svg.removeAttribute('width')
  svg.removeAttribute('height')
  // Interactive here (its states are buttons), so a group rather than the file's single image.
  svg.setAttribute('role', 'group')
  svg.setAttribute('aria-label', `State chart of the ${chart.id} machine, version ${chart.version}`)
  for (const state of chart.states) {
    const group = stateElement(svg, state.id)
    if (!group) throw new Error(`the chart has no element for state ${state.id}`)
    group.setAttribute('tabindex', '0')
    group.setAttribute('role', 'button')
    group.setAttribute('aria-label', `${state.label}: list its shipments`)
    group.addEventListener('click', () => onSelect(state.id))
    group.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault()
        onSelect(state.id)
      }
    })
  }
  container.replaceChildren(svg)
  return svg
}

export const stateElement = (svg, id) => svg.querySelector(`g.state[data-state="${CSS.escape(id)}"]`)
export const transitionElement = (svg, id) => svg.querySelector(`g.transition[data-transition="${CSS.escape(id)}"]`)
const slot = (group, name) => group?.querySelector(`[data-slot="${name}"]`)

/** Edge stroke width for a traffic count: 1.5 px when idle, up to 7 px for the busiest transition. */
function strokeWidth(n, busiest) {
  return n === 0 || busiest === 0 ? 1.5 : 2 + 5 * Math.sqrt(n / busiest)
}

/**
 * Writes `/stats` onto the chart in place: shipments now per state (a compound state shows the sum of
 * its children), dwell p50/p95 and stuck shipments, rejections as a badge with the reasons in its
 * tooltip, traffic per transition as label and edge width. What changed since `previous` pulses.
 */
export function applyStats(svg, chart, stats, previous) {
  const now = new Map(stats.states.map((s) => [s.state, s]))
  const before = new Map((previous?.states ?? []).map((s) => [s.state, s.count]))
  const countOf = (id) => {
    const own = now.get(id)
    if (own) return own.count
    const children = chart.states.filter((s) => s.parent === id)
    return children.length ? children.reduce((sum, child) => sum + (countOf(child.id) ?? 0), 0) : null
  }

  for (const state of chart.states) {
    const group = stateElement(svg, state.id)
    if (!group) continue
    const n = countOf(state.id)
    const own = now.get(state.id)
    slot(group, 'count').textContent = n === null ? '' : count(n)
    group.dataset.count = n === null ? '' : String(n)
    const dwell = own?.dwell
    const dwellSlot = slot(group, 'dwell')
    if (dwellSlot) dwellSlot.textContent = dwell?.samples ? `p50 ${duration(dwell.p50Ms)} · p95 ${duration(dwell.p95Ms)}` : ''
    group.classList.toggle('is-stuck', (own?.stuck ?? 0) > 0)
    group.dataset.stuck = String(own?.stuck ?? 0)
    const was = own ? before.get(state.id) : undefined
    if (was !== undefined && was !== own.count) pulse(group)

    const rejections = stats.rejections.filter((r) => r.state === state.id)
    const total = rejections.reduce((sum, r) => sum + r.count, 0)
    const badge = slot(group, 'rejections')
    badge.setAttribute('visibility', total > 0 ? 'visible' : 'hidden')
    badge.querySelector('text').textContent = total > 0 ? count(total) : ''
    setTitle(badge, rejections.map((r) => `${r.command} refused (${r.reason}) × ${r.count}`).join('\n'))
    group.dataset.rejections = String(total)
  }

  const busiest = Math.max(0, ...stats.transitions.map((t) => t.count))
  const was = new Map((previous?.transitions ?? []).map((t) => [t.id, t.count]))
  for (const transition of stats.transitions) {
    const group = transitionElement(svg, transition.id)
    if (!group) continue
    slot(group, 'traffic').textContent = ` · ${count(transition.count)}`
    group.dataset.count = String(transition.count)
    group.classList.toggle('is-idle', transition.count === 0)
    group.querySelector('.edge-line').style.strokeWidth = String(strokeWidth(transition.count, busiest))
    if ((was.get(transition.id) ?? transition.count) < transition.count) pulse(group)
  }
}

function pulse(element) {
  element.classList.remove('pulse')
  // Restart the CSS animation: reading layout between the class changes makes the browser notice.
  void element.getBoundingClientRect()
  element.classList.add('pulse')
}

function setTitle(element, text) {
  let title = element.querySelector(':scope > title')
  if (!title) {
    title = document.createElementNS(svgNamespace, 'title')
    element.prepend(title)
  }
  title.textContent = text
}

/** The states a state is in: itself and its enclosing compound states. */
function scopeOf(chart, stateId) {
  const chain = []
  for (let id = stateId; id; id = chart.states.find((s) => s.id === id)?.parent ?? null) chain.push(id)
  return chain
}

/**
 * A shipment's path through the chart from its events (in version order) up to `version`: each event
 * took the transition that has its type and is declared on the state the shipment was in or on an
 * enclosing state. Returns the visited states (with their containers), the transitions taken (in
 * order, repeats included) and the state reached.
 */
export function pathOf(chart, events, version = Infinity) {
  let current = chart.initial
  const states = new Set([current])
  const transitions = []
  for (const event of events) {
    if (event.version > version) break
    const scope = scopeOf(chart, current)
    const taken = chart.transitions.find((t) => t.event === event.type && scope.includes(t.from))
    if (!taken) break
    transitions.push(taken.id)
    current = taken.enters
    for (const id of scopeOf(chart, current)) states.add(id)
  }
  return { states, transitions, current }
}

/** Marks a path on the chart (everything else dims); `null` clears it. */
export function highlightPath(svg, path) {
  svg.classList.toggle('tracing', path !== null)
  for (const group of svg.querySelectorAll('g.state')) {
    group.classList.toggle('on-path', path?.states.has(group.dataset.state) ?? false)
    group.classList.toggle('is-current', path?.current === group.dataset.state)
  }
  const taken = new Set(path?.transitions ?? [])
  for (const group of svg.querySelectorAll('g.transition')) group.classList.toggle('on-path', taken.has(group.dataset.transition))
}

/** Marks the state whose shipments are listed. */
export function selectState(svg, stateId) {
  for (const group of svg.querySelectorAll('g.state')) group.classList.toggle('is-selected', group.dataset.state === stateId)
}
