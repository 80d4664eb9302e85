// Small DOM and formatting helpers. Text from the server (shipment ids, origins, operator names…)
// only ever reaches the page as text nodes, never as HTML.

/**
 * `h('li', { class: 'x', 'data-testid': 'y', onclick: fn }, 'text', child)`: an element with
 * attributes (`on…` functions become listeners; null/false attributes are left out) and children
 * (strings become text nodes; null/false children are skipped; arrays are flattened).
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value)
    else element.setAttribute(name, value === true ? '' : String(value))
  }
  element.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false).map((c) => (c instanceof Node ? c : String(c))))
  return element
}

/** A duration for people: 850 ms, 42 s, 12 min, 3.4 h, 2.1 d. */
export function duration(ms) {
  if (ms === null || ms === undefined) return '–'
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`
  if (ms < 86_400_000) return `${trim(ms / 3_600_000)} h`
  return `${trim(ms / 86_400_000)} d`
}

const trim = (n) => (n < 10 ? n.toFixed(1).replace(/\.0$/, '') : String(Math.round(n)))

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' })

/** An ISO time in the reader's locale and zone (the ISO text stays in the tooltip). */
export function time(iso) {
  if (!iso) return null
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : h('time', { datetime: iso, title: iso }, timeFormat.format(date))
}

export const count = (n) => new Intl.NumberFormat().format(n)

/** `datetime-local` input value ⇄ ISO time (the input has no zone: it means the reader's). */
export function toLocalInput(date) {
  const pad = (n) => String(n).padStart(2, '0')
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`
}
