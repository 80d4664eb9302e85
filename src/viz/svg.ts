import type { Chart } from '../../machines/shipment/index.js'
import { edgeLabelText, metrics, type Box, type ChartLayout, type EdgeSection, type LayoutEdge, type LayoutInitial, type LayoutNode, type Point } from './layout.js'

/**
 * The state chart as a standalone SVG document, drawn from the chart and its layout (pure: same input,
 * same bytes). Styling is by presentation attributes only, so the file looks right on its own
 * (download) and a page's CSS overrides it by class without `!important`.
 *
 * Contract with the review page (assets/app.js), stable across versions:
 * - each state is `<g id="state-<id>" class="state state-<type>" data-state data-parent>`;
 * - each transition is `<g id="transition-<id>" class="transition" data-transition data-from data-to
 *   data-enters data-command data-event>` holding `path.edge-line`, `path.edge-head` and the label;
 * - empty slots the page fills with numbers: `[data-slot="count"]` and `[data-slot="rejections"]` (a
 *   hidden badge) in every state, `[data-slot="dwell"]` in atomic and final states,
 *   `[data-slot="traffic"]` in edge labels;
 * - `data-testid` mirrors the ids (`state-<id>`, `edge-<id>`, `count-<id>`, …) for tests.
 */
export function renderSvg(chart: Chart, layout: ChartLayout): string {
  const { width, height } = layout
  const states = new Map(chart.states.map((s) => [s.id, s]))
  const transitions = new Map(chart.transitions.map((t) => [t.id, t]))
  const title = `${chart.id} v${chart.version}${chart.description ? ` — ${chart.description}` : ''}`

  // Containers first, then atomic states, then edges: an edge crossing a container stays visible,
  // and a click on a child state reaches the child, not its container.
  const containers = layout.nodes.filter((n) => n.type === 'compound')
  const leaves = layout.nodes.filter((n) => n.type !== 'compound')
  const stateGroup = (node: LayoutNode) => {
    const state = states.get(node.id)
    if (!state) throw new Error(`layout has a state the chart does not: ${node.id}`)
    const attrs = {
      id: `state-${node.id}`,
      class: `state state-${node.type}`,
      'data-state': node.id,
      'data-parent': node.parent ?? '',
      'data-testid': `state-${node.id}`,
    }
    const tip = [state.label === state.id ? state.id : `${state.label} (${state.id})`, state.description].filter(Boolean).join(' — ')
    const body = node.type === 'compound' ? compoundBody(node, state.label) : leafBody(node, state.label, node.type === 'final')
    return element('g', attrs, [element('title', {}, [escape(tip)]), ...body, badge(node)])
  }

  const edgeGroup = (edge: LayoutEdge) => {
    const transition = transitions.get(edge.id)
    if (!transition) throw new Error(`layout has a transition the chart does not: ${edge.id}`)
    const guard = transition.guard ? ` if ${transition.guard}` : ''
    const tip = `${transition.command}: ${transition.from} → ${transition.to}${guard} (event ${transition.event})${transition.description ? ` — ${transition.description}` : ''}`
    return element(
      'g',
      {
        id: `transition-${edge.id}`,
        class: 'transition',
        'data-transition': edge.id,
        'data-from': transition.from,
        'data-to': transition.to,
        'data-enters': transition.enters,
        'data-command': transition.command,
        'data-event': transition.event,
        'data-testid': `edge-${edge.id}`,
      },
      [
        element('title', {}, [escape(tip)]),
        ...arrow(edge.sections, { class: 'edge-line', stroke: '#66717d', 'stroke-width': 1.5 }, { class: 'edge-head', fill: '#66717d' }),
        edgeLabel(edge, edgeLabelText(transition)),
      ],
    )
  }

  const initial = (marker: LayoutInitial) =>
    element('g', { class: 'initial', 'data-scope': marker.scope ?? '', 'data-target': marker.target }, [
      element('circle', { cx: cx(marker.dot), cy: cy(marker.dot), r: marker.dot.width / 2, fill: '#1f2a36' }),
      ...arrow(marker.sections, { stroke: '#1f2a36', 'stroke-width': 1.5 }, { fill: '#1f2a36' }),
    ])

  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" ` +
    `class="chart" data-machine="${escape(chart.id)}" data-version="${escape(chart.version)}" role="img" ` +
    `font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" font-size="${metrics.fontSize}">\n` +
    [
      element('title', {}, [escape(title)]),
      ...containers.map(stateGroup),
      ...leaves.map(stateGroup),
      ...layout.initials.map(initial),
      ...layout.edges.map(edgeGroup),
    ].join('\n') +
    '\n</svg>\n'
  )
}

/**
 * A transition's label: command (and guard), then the traffic slot. The text hugs the side of its
 * box that faces the edge (ELK puts the box beside the edge and reserves room for the count), and a
 * halo in the background colour keeps it readable where it crosses a line.
 */
function edgeLabel(edge: LayoutEdge, text: string): string {
  const { label } = edge
  const points = edge.sections.flatMap((s) => [s.start, ...s.bends, s.end])
  const segments = points.slice(1).map((to, i) => ({ from: points[i] ?? to, to }))
  const center = { x: cx(label), y: cy(label) }
  const distance = (s: { from: Point; to: Point }) => Math.hypot((s.from.x + s.to.x) / 2 - center.x, (s.from.y + s.to.y) / 2 - center.y)
  const nearest = segments.reduce((best, s) => (distance(s) < distance(best) ? s : best), segments[0] ?? { from: center, to: center })
  const lineLeftOfLabel = (nearest.from.x + nearest.to.x) / 2 <= center.x
  const x = lineLeftOfLabel ? label.x + metrics.labelPadding : label.x + label.width - metrics.labelPadding
  return element('g', { class: 'edge-label' }, [
    element(
      'text',
      {
        x,
        y: center.y,
        'text-anchor': lineLeftOfLabel ? 'start' : 'end',
        'dominant-baseline': 'central',
        fill: '#1f2a36',
        stroke: '#ffffff',
        'stroke-width': 4,
        'stroke-linejoin': 'round',
        'paint-order': 'stroke',
      },
      [
        element('tspan', { class: 'edge-command' }, [escape(text)]),
        element('tspan', { class: 'edge-traffic', 'data-slot': 'traffic', 'data-testid': `traffic-${edge.id}`, 'font-weight': 700 }),
      ],
    ),
  ])
}

/** A state's box with its name, and slots for the count now and the dwell times. */
function leafBody(node: LayoutNode, label: string, final: boolean): string[] {
  return [
    element('rect', { ...boxAttrs(node), class: 'state-box', rx: 12, fill: final ? '#eef3ee' : '#ffffff', stroke: '#33475b', 'stroke-width': 1.5 }),
    // A final state has the double border of UML/Harel charts.
    ...(final ? [element('rect', { ...boxAttrs(inset(node, 4)), class: 'state-final-ring', rx: 9, fill: 'none', stroke: '#33475b' })] : []),
    element('text', { class: 'state-name', x: cx(node), y: node.y + 21, 'text-anchor': 'middle', 'font-weight': 600, 'font-size': 14, fill: '#1f2a36' }, [escape(label)]),
    slot('count', node.id, { x: cx(node), y: node.y + 50, 'text-anchor': 'middle', 'font-size': 24, 'font-weight': 700, fill: '#1f2a36' }),
    slot('dwell', node.id, { x: cx(node), y: node.y + 70, 'text-anchor': 'middle', 'font-size': 12, fill: '#4c5967' }),
  ]
}

/** A container: a header with its name and a slot for the count of all its children. */
function compoundBody(node: LayoutNode, label: string): string[] {
  const baseline = node.y + metrics.compoundHeader / 2 + 5
  return [
    element('rect', { ...boxAttrs(node), class: 'state-box', rx: 16, fill: '#f2f5f8', stroke: '#7d8fa1', 'stroke-width': 1.5 }),
    element('text', { class: 'state-name', x: node.x + 14, y: baseline, 'font-weight': 600, 'font-size': 14, fill: '#1f2a36' }, [escape(label)]),
    slot('count', node.id, { x: node.x + node.width - 18, y: baseline, 'text-anchor': 'end', 'font-size': 16, 'font-weight': 700, fill: '#1f2a36' }),
  ]
}

/** Rejections in the window: a red badge on the state's top-right corner, hidden until non-zero. */
function badge(node: LayoutNode): string {
  const at = { x: node.x + node.width - 4, y: node.y + 4 }
  return element('g', { class: 'state-rejections', 'data-slot': 'rejections', 'data-testid': `rejections-${node.id}`, visibility: 'hidden' }, [
    element('circle', { cx: at.x, cy: at.y, r: 12, fill: '#c0392b' }),
    element('text', { class: 'badge-count', x: at.x, y: at.y, 'text-anchor': 'middle', 'dominant-baseline': 'central', 'font-size': 11, 'font-weight': 700, fill: '#ffffff' }, []),
  ])
}

function slot(name: string, state: string, attrs: Attrs): string {
  return element('text', { class: `state-${name}`, 'data-slot': name, 'data-testid': `${name}-${state}`, ...attrs }, [])
}

const head = { length: 10, width: 10 }

/**
 * An edge as a polyline plus a separate arrowhead polygon (not an SVG marker, so the head takes the
 * edge's colour and highlight from CSS). The line stops at the head's base: a thick line would
 * otherwise show around the tip.
 */
function arrow(sections: readonly EdgeSection[], line: Attrs, headAttrs: Attrs): string[] {
  const points = sections.flatMap((s, i) => [...(i === 0 ? [s.start] : []), ...s.bends, s.end])
  const tip = points[points.length - 1]
  const before = points[points.length - 2]
  if (!tip || !before) return []
  const length = Math.hypot(tip.x - before.x, tip.y - before.y) || 1
  const along = { x: (tip.x - before.x) / length, y: (tip.y - before.y) / length }
  const back = Math.min(head.length, length - 1)
  const base = { x: tip.x - along.x * back, y: tip.y - along.y * back }
  const side = { x: (-along.y * head.width) / 2, y: (along.x * head.width) / 2 }
  const d = [...points.slice(0, -1), base].map((p, i) => `${i === 0 ? 'M' : 'L'}${num(p.x)} ${num(p.y)}`).join(' ')
  const triangle = [tip, { x: base.x + side.x, y: base.y + side.y }, { x: base.x - side.x, y: base.y - side.y }]
  return [
    element('path', { d, fill: 'none', 'stroke-linejoin': 'round', ...line }),
    element('path', { d: `M${triangle.map((p: Point) => `${num(p.x)} ${num(p.y)}`).join(' L')} Z`, ...headAttrs }),
  ]
}

type Attrs = Readonly<Record<string, string | number>>

function element(name: string, attrs: Attrs, children: readonly string[] = []): string {
  const attributes = Object.entries(attrs)
    .map(([key, value]) => ` ${key}="${escape(typeof value === 'number' ? num(value) : value)}"`)
    .join('')
  return `<${name}${attributes}>${children.join('')}</${name}>`
}

const boxAttrs = (b: Box) => ({ x: b.x, y: b.y, width: b.width, height: b.height })
const inset = (b: Box, by: number): Box => ({ x: b.x + by, y: b.y + by, width: b.width - 2 * by, height: b.height - 2 * by })
const cx = (b: Box) => b.x + b.width / 2
const cy = (b: Box) => b.y + b.height / 2
const num = (n: number) => String(Math.round(n * 10) / 10)

/** XML text and attribute escaping (chart texts come from the machine, but are still just data). */
function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}
