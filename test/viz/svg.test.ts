import t from 'tap'
import { shipmentChart, type Chart } from '../../machines/shipment/index.js'
import { layoutChart } from '../../src/viz/layout.js'
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
