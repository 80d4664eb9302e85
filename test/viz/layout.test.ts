import t from 'tap'
import { shipmentChart } from '../../machines/shipment/index.js'
import { truckChart } from '../../machines/truck/index.js'
import { transitionLabel } from '../../src/viz/glossary.js'
import { layoutChart, type Box, type EdgeSection, type Point } from '../../src/viz/layout.js'

// The layout is read from the chart alone: every state and transition is there once, containers hold
// their children, edges start and end on the borders of their own states, and nothing overlaps.
const layout = await layoutChart(shipmentChart)
const node = (id: string) => {
  const found = layout.nodes.find((n) => n.id === id)
  if (!found) throw new Error(`no node ${id}`)
  return found
}
const inside = (inner: Box, outer: Box) =>
  inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.width <= outer.x + outer.width && inner.y + inner.height <= outer.y + outer.height
const overlap = (a: Box, b: Box) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
const onBorder = (p: Point, b: Box, tolerance = 1) => {
  const withinX = p.x >= b.x - tolerance && p.x <= b.x + b.width + tolerance
  const withinY = p.y >= b.y - tolerance && p.y <= b.y + b.height + tolerance
  const nearVertical = Math.abs(p.x - b.x) <= tolerance || Math.abs(p.x - (b.x + b.width)) <= tolerance
  const nearHorizontal = Math.abs(p.y - b.y) <= tolerance || Math.abs(p.y - (b.y + b.height)) <= tolerance
  return withinX && withinY && (nearVertical || nearHorizontal)
}
const first = (sections: readonly EdgeSection[]) => sections[0]!.start
const last = (sections: readonly EdgeSection[]) => sections[sections.length - 1]!.end

t.test('one node per chart state, with its type and nesting', async (t) => {
  t.same(
    layout.nodes.map((n) => n.id),
    shipmentChart.states.map((s) => s.id),
  )
  for (const state of shipmentChart.states) {
    const n = node(state.id)
    t.equal(n.type, state.type, `${state.id} is ${state.type}`)
    t.equal(n.parent, state.parent, `${state.id} sits in ${state.parent ?? 'the machine'}`)
    t.ok(n.width > 0 && n.height > 0, `${state.id} has a size`)
    t.ok(inside(n, { x: 0, y: 0, width: layout.width, height: layout.height }), `${state.id} lies inside the drawing`)
  }
})

t.test('the compound state atDepot is a container around registered and assigned', async (t) => {
  const atDepot = node('atDepot')
  t.equal(atDepot.type, 'compound')
  t.same([...atDepot.children].sort(), ['assigned', 'registered'])
  for (const child of atDepot.children) t.ok(inside(node(child), atDepot), `${child} is drawn inside atDepot`)
  for (const other of layout.nodes.filter((n) => n.parent === null && n.id !== 'atDepot')) t.notOk(overlap(other, atDepot), `${other.id} stays out of atDepot`)
})

t.test('no two states overlap, unless one contains the other', async (t) => {
  for (const a of layout.nodes) {
    for (const b of layout.nodes) {
      if (a.id >= b.id || a.parent === b.id || b.parent === a.id) continue
      t.notOk(overlap(a, b), `${a.id} and ${b.id} are apart`)
    }
  }
})

t.test('one routed edge per chart transition, from border to border, with a label', async (t) => {
  t.same(
    layout.edges.map((e) => e.id),
    shipmentChart.transitions.map((tr) => tr.id),
  )
  for (const transition of shipmentChart.transitions) {
    const edge = layout.edges.find((e) => e.id === transition.id)!
    t.equal(edge.from, transition.from)
    t.equal(edge.to, transition.to)
    t.ok(edge.sections.length > 0, `${edge.id} is routed`)
    t.ok(onBorder(first(edge.sections), node(transition.from)), `${edge.id} leaves the border of ${transition.from}`)
    t.ok(onBorder(last(edge.sections), node(transition.to)), `${edge.id} ends on the border of ${transition.to}`)
    t.equal(edge.label.text, transitionLabel(transition), `${edge.id} is labelled in words, from its description`)
    for (const state of layout.nodes.filter((n) => n.type !== 'compound')) t.notOk(overlap(edge.label, state), `the label of ${edge.id} leaves ${state.id} readable`)
  }
})

t.test('the reassignment is a self-loop; CANCEL leaves the container itself', async (t) => {
  const reassign = layout.edges.find((e) => e.id === 'assigned:ASSIGN')!
  t.equal(reassign.from, 'assigned')
  t.equal(reassign.to, 'assigned')
  t.ok(reassign.sections.flatMap((s) => s.bends).length >= 2, 'it loops around a corner')
  t.equal(reassign.label.text, 'Reassign', 'its words, not its guard (isAnotherTruck)')
  const cancel = layout.edges.find((e) => e.id === 'atDepot:CANCEL')!
  const start = first(cancel.sections)
  t.ok(onBorder(start, node('atDepot')), 'CANCEL starts on the border of atDepot')
  for (const child of node('atDepot').children) t.notOk(onBorder(start, node(child), 0.5), `…not on ${child}`)
})

t.test('initial markers point at the states entered first', async (t) => {
  t.same(
    layout.initials.map((i) => [i.scope, i.target]),
    [
      [null, shipmentChart.initial],
      ['atDepot', shipmentChart.states.find((s) => s.id === 'atDepot')!.initial],
    ],
  )
  const inner = layout.initials.find((i) => i.scope === 'atDepot')!
  t.ok(inside(inner.dot, node('atDepot')), "atDepot's initial dot is inside it")
  for (const marker of layout.initials) t.ok(onBorder(last(marker.sections), node(marker.target)), `the arrow reaches ${marker.target}`)
})

t.test('the same chart gives the same layout', async (t) => {
  t.same(await layoutChart(shipmentChart), layout)
  t.same(layout.machine, { id: shipmentChart.id, version: shipmentChart.version })
})

t.test('the truck chart lays out too: every state and transition, its self-loops spread round loading', async (t) => {
  const trucks = await layoutChart(truckChart)
  t.same(trucks.nodes.map((n) => n.id), truckChart.states.map((s) => s.id))
  t.same(trucks.edges.map((e) => e.id), truckChart.transitions.map((tr) => tr.id))
  const loading = trucks.nodes.find((n) => n.id === 'loading')!
  const loops = trucks.edges.filter((e) => e.from === 'loading' && e.to === 'loading')
  t.equal(loops.length, 4, 'LOAD, UNLOAD, CONFIRM, RELEASE: messages from shipments')
  const sides = new Set(loops.map((e) => {
    const start = first(e.sections)
    return Math.abs(start.x - loading.x) < 1 ? 'west' : Math.abs(start.x - loading.x - loading.width) < 1 ? 'east' : Math.abs(start.y - loading.y) < 1 ? 'north' : 'south'
  }))
  t.ok(sides.size >= 3, `the loops use ${sides.size} sides of the state, not one`)
  t.ok(trucks.width < 900, `narrow enough to sit beside the shipment chart (${trucks.width} px)`)
})
