// @ts-check
// Small DOM and formatting helpers. Text from the server (shipment ids, origins, operator names…)
// only ever reaches the page as text nodes, never as HTML.

/**
 * A child: a node, text, nothing (null, undefined, false), or an array of children (nested as deep
 * as it likes: JSDoc cannot name a recursive type, so the array's items are checked when flattened).
 * @typedef {Node | string | number | null | undefined | false | readonly unknown[]} Child
 */

/**
 * `h('li', { class: 'x', 'data-testid': 'y', onclick: fn }, 'text', child)`: an element with
 * attributes (`on…` functions become listeners; null/undefined/false attributes are left out) and
 * children (strings become text nodes; null/false children are skipped; arrays are flattened).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, unknown>} [attributes]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), /** @type {EventListener} */ (value))
    else element.setAttribute(name, value === true ? '' : String(value))
  }
  element.append(...flat(children))
  return element
}

/** @param {readonly unknown[]} children @returns {(Node | string)[]} */
function flat(children) {
  return children.flatMap((c) => (Array.isArray(c) ? flat(c) : c === null || c === undefined || c === false ? [] : [c instanceof Node ? c : String(c)]))
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })
const hourFormat = new Intl.DateTimeFormat(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit' })

/** An ISO time in the reader's locale and zone, as text (for tables and CSV). */
export function timeText(/** @type {string | null | undefined} */ iso) {
  if (!iso) return '–'
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : timeFormat.format(date)
}

/** An hour's start, short (the comparison's rows). */
export function hourText(/** @type {string} */ iso) {
  return hourFormat.format(new Date(iso))
}

/** An ISO time in the reader's locale and zone (the ISO text stays in the tooltip). */
export function time(/** @type {string | null | undefined} */ iso) {
  if (!iso) return null
  return h('time', { datetime: iso, title: iso }, timeText(iso))
}

export const count = (/** @type {number} */ n) => new Intl.NumberFormat().format(n)

/** `datetime-local` input value of a date (the input has no zone: it means the reader's). */
export function toLocalInput(/** @type {Date} */ date) {
  const pad = (/** @type {number} */ n) => String(n).padStart(2, '0')
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`
}

/** Saves `blob` as a file named `name` (a download the reader sees). */
export function save(/** @type {Blob} */ blob, /** @type {string} */ name) {
  const url = URL.createObjectURL(blob)
  const anchor = h('a', { href: url, download: name, hidden: true })
  document.body.append(anchor)
  anchor.click()
  anchor.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}
