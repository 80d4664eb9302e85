// @ts-check
// A chart on the page: the server's SVG (GET /viz/chart.svg?machine=…), mounted once; afterwards only
// its numbers, arrow weights and highlights change — all computed by the server (GET
// /viz/numbers.json, GET /review/shipments/{id}): nothing here knows the machine's rules. The element
// contract (ids, classes, data-slot) is documented in src/viz/svg.ts.

import { count } from './dom.js'

/**
 * @typedef {import('../../http/schemas.js').ChartNumbersResponse['machines']['shipment']} ChartNumbers
 * @typedef {import('../../http/schemas.js').GlossaryResponse['machines']['shipment']} MachineWords
 * @typedef {{ states: string[], transitions: string[], current: string }} Path
 */

const svgNamespace = 'http://www.w3.org/2000/svg'

/**
 * Parses the server's SVG and puts it into `container`; `onSelect(stateId)` on click or Enter.
 * @param {HTMLElement} container
 * @param {string} svgText
 * @param {MachineWords} words
 * @param {(stateId: string) => void} onSelect
 * @returns {SVGSVGElement}
 */
export function mountChart(container, svgText, words, onSelect) {
  const parsed = new DOMParser().parseFromString(svgText, 'image/svg+xml')
  if (parsed.querySelector('parsererror') || parsed.documentElement.localName !== 'svg') throw new Error('the chart is not valid SVG')
  const svg = document.importNode(parsed.documentElement, true)
  if (!(svg instanceof SVGSVGElement)) throw new Error('the chart is not an SVG document')
  // Scale with the page: the viewBox keeps the proportions.
  svg.removeAttribute('width')
  svg.removeAttribute('height')
  // Interactive here (its states are buttons), so a group rather than the file's single image.
  svg.setAttribute('role', 'group')
  svg.setAttribute('aria-label', `State chart: ${words.description ?? words.id}`)
  for (const [id, state] of Object.entries(words.states)) {
    const group = stateElement(svg, id)
    if (!group) throw new Error(`the chart has no element for state ${id}`)
    group.setAttribute('tabindex', '0')
    group.setAttribute('role', 'button')
    group.setAttribute('aria-label', `${state.label}: open`)
    group.addEventListener('click', () => onSelect(id))
    group.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault()
        onSelect(id)
      }
    })
  }
  container.replaceChildren(svg)
  return svg
}

/** @param {Element} svg @param {string} id */
export const stateElement = (svg, id) => /** @type {SVGGElement | null} */ (svg.querySelector(`g.state[data-state="${CSS.escape(id)}"]`))
/** @param {Element} svg @param {string} id */
export const transitionElement = (svg, id) => /** @type {SVGGElement | null} */ (svg.querySelector(`g.transition[data-transition="${CSS.escape(id)}"]`))
/** @param {Element | null} group @param {string} name */
const slot = (group, name) => group?.querySelector(`[data-slot="${name}"]`) ?? null

/**
 * Writes a chart's numbers into its SVG in place: per state the count now, the dwell line, the stuck
 * mark and the refusals badge (its reasons in words in the tooltip); per transition the traffic and
 * the arrow's weight. What changed since `previous` pulses.
 * @param {SVGSVGElement} svg
 * @param {ChartNumbers} numbers
 * @param {ChartNumbers | null} previous
 * @param {(refused: { command: string, reason: string, count: number }) => string} refusedText
 */
export function applyNumbers(svg, numbers, previous, refusedText) {
  for (const [id, own] of Object.entries(numbers.states)) {
    const group = stateElement(svg, id)
    if (!group) continue
    const countSlot = slot(group, 'count')
    if (countSlot) countSlot.textContent = count(own.count)
    group.dataset.count = String(own.count)
    const dwell = slot(group, 'dwell')
    if (dwell) dwell.textContent = own.dwell
    const atomic = !group.classList.contains('state-compound')
    group.classList.toggle('is-stuck', atomic && own.stuck > 0)
    group.dataset.stuck = String(own.stuck)
    const was = previous?.states[id]
    if (was && was.count !== own.count) pulse(group)
    const badge = slot(group, 'rejections')
    if (badge) {
      badge.setAttribute('visibility', own.rejections > 0 ? 'visible' : 'hidden')
      const text = badge.querySelector('text')
      if (text) text.textContent = own.rejections > 0 ? count(own.rejections) : ''
      setTitle(badge, own.refused.map(refusedText).join('\n'))
    }
    group.dataset.rejections = String(own.rejections)
  }
  for (const [id, traffic] of Object.entries(numbers.transitions)) {
    const group = transitionElement(svg, id)
    if (!group) continue
    const label = slot(group, 'traffic')
    if (label) label.textContent = ` · ${count(traffic.count)}`
    group.dataset.count = String(traffic.count)
    group.classList.toggle('is-idle', traffic.count === 0)
    const line = /** @type {SVGElement | null} */ (group.querySelector('.edge-line'))
    if (line) line.style.strokeWidth = String(traffic.count === 0 ? 1.5 : 2 + 5 * traffic.weight)
    if ((previous?.transitions[id]?.count ?? traffic.count) < traffic.count) pulse(group)
  }
}

/** @param {Element} element */
function pulse(element) {
  element.classList.remove('pulse')
  // Restart the CSS animation: reading layout between the class changes makes the browser notice.
  void element.getBoundingClientRect()
  element.classList.add('pulse')
}

/** @param {Element} element @param {string} text */
function setTitle(element, text) {
  let title = element.querySelector(':scope > title')
  if (!title) {
    title = document.createElementNS(svgNamespace, 'title')
    element.prepend(title)
  }
  title.textContent = text
}

/**
 * Marks a shipment's path on the chart (everything else dims); `null` clears it. The path is the
 * server's (GET /review/shipments/{id}).
 * @param {SVGSVGElement} svg
 * @param {Path | null} path
 */
export function highlightPath(svg, path) {
  svg.classList.toggle('tracing', path !== null)
  const states = new Set(path?.states ?? [])
  for (const group of svg.querySelectorAll('g.state')) {
    const id = /** @type {SVGGElement} */ (group).dataset.state ?? ''
    group.classList.toggle('on-path', states.has(id))
    group.classList.toggle('is-current', path?.current === id)
  }
  const taken = new Set(path?.transitions ?? [])
  for (const group of svg.querySelectorAll('g.transition')) group.classList.toggle('on-path', taken.has(/** @type {SVGGElement} */ (group).dataset.transition ?? ''))
}

/** Marks the state whose shipments are listed (null: none). */
export function selectState(/** @type {SVGSVGElement} */ svg, /** @type {string | null} */ stateId) {
  for (const group of svg.querySelectorAll('g.state')) group.classList.toggle('is-selected', /** @type {SVGGElement} */ (group).dataset.state === stateId)
}
