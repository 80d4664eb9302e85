import t from 'tap'
import { shipmentChart, type Chart } from '../../machines/shipment/index.js'
import { truckChart } from '../../machines/truck/index.js'
import { legend, transitionLabel } from '../../src/viz/glossary.js'
import { layoutChart } from '../../src/viz/layout.js'
import { chartNumbers } from '../../src/viz/numbers.js'
import { renderSvg } from '../../src/viz/svg.js'

// The SVG carries every state and transition under its stable id, with the slots the page fills in.
const layout = await layoutChart(shipmentChart)
const svg = renderSvg(shipmentChart, layout)
const occurrences = (text: string) => svg.split(text).length - 1
/** The opening tag of the element with this id. */
const tagOf = (id: string) => svg.match(new RegExp(`<g id="${id}"[^>]*>`))?.[0] ?? ''

t.test('a standalone SVG document sized by the layout', async (t) => {
  t.match(svg, new RegExp(`^<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${layout.width} ${layout.height}"`))
  t.match(svg, /<\/svg>\n$/)
  t.match(svg, new RegExp(`data-machine="${shipmentChart.id}" data-version="${shipmentChart.version}"`))
  t.notMatch(svg, /<script|<style|href=|url\(/, 'no script, no stylesheet, no references to anything else')
})

t.test('every state, once, with its id, type, parent and slots', async (t) => {
  for (const state of shipmentChart.states) {
    t.equal(occurrences(` id="state-${state.id}"`), 1, `state-${state.id}`)
    const tag = tagOf(`state-${state.id}`)
    t.match(tag, `class="state state-${state.type}"`)
    t.match(tag, `data-state="${state.id}"`)
    t.match(tag, `data-parent="${state.parent ?? ''}"`)
    t.match(tag, `data-testid="state-${state.id}"`)
    t.equal(occurrences(`data-testid="count-${state.id}"`), 1, `count slot of ${state.id}`)
    t.equal(occurrences(`data-testid="rejections-${state.id}"`), 1, `rejection badge of ${state.id}`)
    t.equal(occurrences(`data-testid="dwell-${state.id}"`), state.type === 'compound' ? 0 : 1, `dwell slot of ${state.id}`)
    t.match(svg, `>${state.label}</text>`, `${state.id} shows its label “${state.label}”`)
  }
  t.equal(occurrences('<g id="state-'), shipmentChart.states.length, 'nothing else is a state')
})

t.test('every transition, once, with its ends, command, event and a traffic slot', async (t) => {
  for (const transition of shipmentChart.transitions) {
    t.equal(occurrences(` id="transition-${transition.id}"`), 1, `transition-${transition.id}`)
    const tag = tagOf(`transition-${transition.id}`)
    for (const [name, value] of Object.entries({ from: transition.from, to: transition.to, enters: transition.enters, command: transition.command, event: transition.event })) {
      t.match(tag, `data-${name}="${value}"`, `${transition.id}: data-${name}`)
    }
    t.match(tag, `data-testid="edge-${transition.id}"`)
    t.equal(occurrences(`data-testid="traffic-${transition.id}"`), 1, `traffic slot of ${transition.id}`)
  }
  t.equal(occurrences('<g id="transition-'), shipmentChart.transitions.length, 'nothing else is a transition')
  t.equal(occurrences('class="edge-line"'), shipmentChart.transitions.length, 'one line per transition')
  t.equal(occurrences('class="edge-head"'), shipmentChart.transitions.length, 'one arrowhead per transition')
})

t.test('containers come first, so states and edges are drawn (and clicked) on top of them', async (t) => {
  const container = svg.indexOf('id="state-atDepot"')
  for (const child of ['registered', 'assigned']) t.ok(svg.indexOf(`id="state-${child}"`) > container, `${child} after atDepot`)
  t.ok(svg.indexOf('id="transition-') > svg.lastIndexOf('id="state-'), 'edges after states')
})

t.test('texts from the chart are escaped', async (t) => {
  const tricky: Chart = { ...shipmentChart, states: shipmentChart.states.map((s) => (s.id === 'shipped' ? { ...s, label: '<on the road> & "gone"' } : s)) }
  const out = renderSvg(tricky, layout)
  t.match(out, '&#60;on the road&#62; &#38; &#34;gone&#34;')
  t.notMatch(out, '<on the road>')
})

t.test('pure: the same chart and layout give the same bytes', async (t) => {
  t.equal(renderSvg(shipmentChart, layout), svg)
})

t.test('a layout that does not belong to the chart is refused', async (t) => {
  const other: Chart = { ...shipmentChart, states: shipmentChart.states.filter((s) => s.id !== 'shipped') }
  t.throws(() => renderSvg(other, layout), /state the chart does not: shipped/)
})

// Issue 15, plain language and "SVG with the numbers".
const codeNames = [...shipmentChart.transitions.flatMap((tr) => [tr.guard, tr.event]), 'unregistered'].filter((x): x is string => x !== null)

t.test('the words are the machine’s own, for people: no guard, event or code name anywhere in the drawing', async (t) => {
  for (const transition of shipmentChart.transitions) {
    t.match(svg, `>${transitionLabel(transition)}</tspan>`, `${transition.id} reads “${transitionLabel(transition)}”`)
  }
  // Ids stay in attributes (the page's contract); the text a person reads has none of them.
  const text = svg.replace(/<[^>]*>/g, ' ')
  for (const name of codeNames) t.notMatch(text, new RegExp(`\\b${name}\\b`), `no “${name}” in the text`)
  t.notMatch(text, /\[|\]/, 'no guard brackets')
})

t.test('messages between actors are marked (dotted, purple), scans are not', async (t) => {
  const trucks = renderSvg(truckChart, await layoutChart(truckChart))
  for (const transition of truckChart.transitions) {
    const tag = trucks.match(new RegExp(`<g id="transition-${transition.id}"[^>]*>`))?.[0] ?? ''
    t.equal(tag.includes('class="transition is-internal"'), transition.internal, `${transition.id}: internal ${transition.internal}`)
  }
  t.notMatch(svg, /is-internal" data-transition="assigned:SHIP"/)
  t.match(svg, /class="transition is-internal" data-transition="assigned:DEPART_SHIP"/, "the departure's DEPART_SHIP is a message")
})

t.test('with numbers: the slots are filled, stuck states dashed, a legend explains every mark', async (t) => {
  const stats = {
    states: [
      { state: 'registered', count: 7, dwell: { samples: 3, p50Ms: 600_000, p95Ms: 3_600_000 }, stuck: 2 },
      { state: 'assigned', count: 5, dwell: { samples: 0, p50Ms: null, p95Ms: null }, stuck: 0 },
      { state: 'shipped', count: 1, dwell: null, stuck: 0 },
      { state: 'delivered', count: 40, dwell: null, stuck: 0 },
      { state: 'cancelled', count: 2, dwell: null, stuck: 0 },
    ],
    transitions: [{ id: 'unregistered:REGISTER', count: 100 }, { id: 'registered:ASSIGN', count: 25 }],
    rejections: [{ state: 'registered', command: 'DELIVER', reason: 'invalid_transition', count: 3 }],
  }
  const numbers = chartNumbers(shipmentChart, stats)
  t.equal(numbers.states.atDepot!.count, 12, 'a compound state counts its children')
  t.equal(numbers.transitions['unregistered:REGISTER']!.weight, 1)
  t.equal(numbers.transitions['registered:ASSIGN']!.weight, 0.5)
  const drawn = renderSvg(shipmentChart, layout, { numbers, caption: 'today', stuckAfter: '1 h' })
  t.match(drawn, /data-testid="count-registered"[^>]*>7</)
  t.match(drawn, /data-testid="count-atDepot"[^>]*>12</)
  t.match(drawn, /data-testid="dwell-registered"[^>]*>p50 10 min · p95 1 h</)
  t.match(drawn, /data-testid="rejections-registered" visibility="visible"/)
  t.match(drawn, /data-testid="rejections-assigned" visibility="hidden"/)
  t.match(drawn, /data-testid="traffic-registered:ASSIGN"[^>]*> · 25</)
  t.match(drawn, /data-testid="traffic-shipped:DELIVER"[^>]*> · 0</)
  t.match(drawn.match(/<g id="state-registered"[\s\S]*?<\/g>/)![0], /stroke-dasharray="6 3"/, 'registered is stuck: dashed border')
  t.notMatch(drawn.match(/<g id="state-assigned"[\s\S]*?<\/g>/)![0], /stroke-dasharray="6 3"/, 'assigned is not')
  for (const entry of legend('1 h')) t.match(drawn, `data-mark="${entry.mark}"`, `the legend shows ${entry.mark}`)
  t.match(drawn, 'more than 1 h (stuck)')
  t.match(drawn, '>today</text>', 'the caption')
  t.notMatch(svg, /data-mark=/, 'the bare drawing (the page fills it) has no legend')
  const [, width, height] = /viewBox="0 0 (\d+) (\d+)"/.exec(drawn)!
  t.ok(Number(height) > layout.height && Number(width) >= layout.width, 'the legend is below the chart, inside the drawing')
})
