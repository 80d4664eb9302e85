import t from 'tap'
import { shipmentChart } from '../../machines/shipment/index.js'
import { renderMermaid } from '../../src/viz/mermaid.js'

// The Mermaid text holds every state and transition of the chart, nests atDepot's children in its
// block, and writes each transition in the block that encloses both its ends.
const text = renderMermaid(shipmentChart)
const lines = text.split('\n')

/** Each statement with the compound block it is written in (null: top level). */
function statements(): Array<{ line: string; block: string | null }> {
  const open: string[] = []
  const out: Array<{ line: string; block: string | null }> = []
  for (const raw of lines) {
    const line = raw.trim()
    const opens = /^state (\S+) \{$/.exec(line)
    if (opens) {
      out.push({ line, block: open.at(-1) ?? null })
      open.push(opens[1]!)
    } else if (line === '}') open.pop()
    else if (line) out.push({ line, block: open.at(-1) ?? null })
  }
  t.equal(open.length, 0, 'every block is closed')
  return out
}

t.test('a stateDiagram-v2 with a title naming the machine version', async (t) => {
  t.same(lines.slice(0, 4), ['---', `title: ${shipmentChart.id} v${shipmentChart.version}`, '---', 'stateDiagram-v2'])
  t.match(text, /%% Generated from the shipment machine/)
})

t.test('every state appears, atDepot as a block around its children', async (t) => {
  const written = statements()
  const parentOf = new Map(shipmentChart.states.map((s) => [s.id, s.parent]))
  for (const state of shipmentChart.states) {
    const declaration =
      state.type === 'compound' ? `state ${state.id} {` : state.label === state.id ? state.id : `state "${state.label}" as ${state.id}`
    const found = written.filter((w) => w.line === declaration)
    t.equal(found.length, 1, `${state.id} declared once`)
    t.equal(found[0]?.block, state.parent, `${state.id} declared in ${state.parent ?? 'the top level'}`)
  }
  t.ok(written.some((w) => w.line === 'state "new" as unregistered'), 'labels other than the id are shown')
  t.same(
    written.filter((w) => w.block === 'atDepot' && /^\w+$/.test(w.line)).map((w) => w.line),
    shipmentChart.states.filter((s) => parentOf.get(s.id) === 'atDepot').map((s) => s.id),
  )
})

t.test('every transition appears once, in the block enclosing both ends', async (t) => {
  const written = statements()
  const parentOf = new Map(shipmentChart.states.map((s) => [s.id, s.parent]))
  for (const transition of shipmentChart.transitions) {
    const label = transition.guard ? `${transition.command} [${transition.guard}]` : transition.command
    const found = written.filter((w) => w.line === `${transition.from} --> ${transition.to} : ${label}`)
    t.equal(found.length, 1, `${transition.id} written once`)
    // The chart nests one level deep: both ends share a block only if they share a parent.
    const from = parentOf.get(transition.from) ?? null
    const to = parentOf.get(transition.to) ?? null
    t.equal(found[0]?.block, from === to ? from : null, `${transition.id} in ${from === to ? (from ?? 'the top level') : 'the top level'}`)
  }
  const arrows = written.filter((w) => / --> /.test(w.line) && !w.line.includes('[*]'))
  t.equal(arrows.length, shipmentChart.transitions.length, 'no other transitions')
  t.match(written.find((w) => w.line.startsWith('assigned --> shipped')), { block: null }, 'SHIP leaves the atDepot block')
  t.match(written.find((w) => w.line.startsWith('registered --> assigned')), { block: 'atDepot' })
})

t.test('initial and final states as [*]', async (t) => {
  const written = statements()
  t.match(written.find((w) => w.line === `[*] --> ${shipmentChart.initial}`), { block: null })
  t.match(written.find((w) => w.line === '[*] --> registered'), { block: 'atDepot' })
  const finals = shipmentChart.states.filter((s) => s.type === 'final').map((s) => s.id)
  t.same(
    written.filter((w) => w.line.endsWith('--> [*]')).map((w) => w.line),
    finals.map((id) => `${id} --> [*]`),
  )
})
