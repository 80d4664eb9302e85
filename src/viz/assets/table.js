// @ts-check
// Every table on the page, one way: a caption, a header row, rows that may grow (pages), and a CSV
// download of exactly what the table shows — the same text, cell for cell (a cell that links somewhere
// shows its text as the link).

import { h, save } from './dom.js'
import { csv, csvName } from './logic.js'

/**
 * @template R
 * @typedef {{ header: string, text: (row: R) => string, href?: (row: R) => string | null, numeric?: boolean, title?: (row: R) => string | null }} Column
 */

/**
 * @template R
 * @param {{ caption: string, testid: string, columns: Column<R>[], rows: R[], empty: string, windowLabel: string, rowTestid?: string }} options
 */
export function table({ caption, testid, columns, rows, empty, windowLabel, rowTestid }) {
  /** @type {R[]} */
  const shown = []
  const body = h('tbody')
  const none = h('p', { class: 'quiet', 'data-testid': `${testid}-empty` }, empty)
  const cell = (/** @type {Column<R>} */ column, /** @type {R} */ row) => {
    const text = column.text(row)
    const href = column.href?.(row) ?? null
    return h('td', { class: column.numeric ? 'num' : null, title: column.title?.(row) ?? null }, href ? h('a', { href }, text) : text)
  }
  const add = (/** @type {R[]} */ more) => {
    shown.push(...more)
    body.append(...more.map((row) => h('tr', { 'data-testid': rowTestid ?? `${testid}-row` }, columns.map((column) => cell(column, row)))))
    none.hidden = shown.length > 0
    grid.hidden = shown.length === 0
    download.hidden = shown.length === 0
  }
  const grid = h(
    'table',
    { class: 'grid', 'data-testid': `${testid}-table` },
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.numeric ? 'num' : null, scope: 'col' }, c.header)))),
    body,
  )
  const download = h(
    'button',
    {
      type: 'button',
      class: 'csv quiet-button',
      'data-testid': `${testid}-csv`,
      title: `Download this table as CSV`,
      onclick: () =>
        save(
          new Blob([csv(columns.map((c) => c.header), shown.map((row) => columns.map((c) => c.text(row))))], { type: 'text/csv;charset=utf-8' }),
          csvName(caption, windowLabel),
        ),
    },
    'CSV',
  )
  const element = h('section', { class: 'table-block', 'data-testid': testid }, h('header', {}, h('h3', {}, caption), download), none, h('div', { class: 'scroll' }, grid))
  add(rows)
  return { element, add }
}
