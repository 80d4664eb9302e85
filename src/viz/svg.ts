import type { Chart } from '../../machines/chart.js'
import { explanation, legend, transitionLabel } from './glossary.js'
import { metrics, type Box, type ChartLayout, type EdgeSection, type LayoutEdge, type LayoutInitial, type LayoutNode, type Point } from './layout.js'
import type { ChartNumbers, StateNumbers } from './numbers.js'

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
 * - a message between actors (a transition marked `internal`) has the class `is-internal`;
 * - `data-testid` mirrors the ids (`state-<id>`, `edge-<id>`, `count-<id>`, …) for tests.
 *
 * Words are the machine's own, for people (glossary.ts): a state's label, a transition's label (the
 * first sentence of its description), descriptions in the tooltips; never a guard's or an event's
 * code name. With `numbers` the slots are filled — counts, dwell times, refusals, stuck borders,
 * traffic and arrow weights — and a legend and a caption are drawn under the chart: a file that says
 * everything on its own (the download, the printed report).
 */
export interface SvgOptions {
  readonly numbers?: ChartNumbers
  /** Under the chart, with the numbers: what they cover ("Today, 06:00–14:32 · generated …"). */
  readonly caption?: string
  /** The stuck threshold, in words, for the legend ("1 h"). */
  readonly stuckAfter?: string
}

export function renderSvg(chart: Chart, layout: ChartLayout, options: SvgOptions = {}): string {
  const { width } = layout
  const { numbers } = options
  const states = new Map(chart.states.map((s) => [s.id, s]))
  const transitions = new Map(chart.transitions.map((t) => [t.id, t]))
  const title = `${chart.id} v${chart.version}${chart.description ? ` — ${chart.description}` : ''}`
  const labelOf = (id: string) => states.get(id)?.label ?? id

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
    const tip = [state.label, state.description].filter(Boolean).join(' — ')
    const own = numbers?.states[node.id]
    const body = node.type === 'compound' ? compoundBody(node, state.label, own) : leafBody(node, state.label, node.type === 'final', own)
    return element('g', { ...attrs, ...(own ? { 'data-count': own.count, 'data-rejections': own.rejections, 'data-stuck': own.stuck } : {}) }, [
      element('title', {}, [escape(tip)]),
      ...body,
      badge(node, own),
    ])
  }

  const edgeGroup = (edge: LayoutEdge) => {
    const transition = transitions.get(edge.id)
    if (!transition) throw new Error(`layout has a transition the chart does not: ${edge.id}`)
    const label = transitionLabel(transition)
    const more = explanation(transition.description)
    const tip = `${label}: ${labelOf(transition.from)} → ${labelOf(transition.to)}${more ? ` — ${more}` : ''}`
    const traffic = numbers?.transitions[edge.id]
    const line: Attrs = {
      class: 'edge-line',
      stroke: transition.internal ? internalColour : '#66717d',
      'stroke-width': traffic && traffic.count > 0 ? 2 + 5 * traffic.weight : 1.5,
      ...(transition.internal ? { 'stroke-dasharray': '1.5 3', 'stroke-linecap': 'round' } : traffic && traffic.count === 0 ? { 'stroke-dasharray': '4 4' } : {}),
    }
    return element(
      'g',
      {
        id: `transition-${edge.id}`,
        class: transition.internal ? 'transition is-internal' : 'transition',
        'data-transition': edge.id,
        'data-from': transition.from,
        'data-to': transition.to,
        'data-enters': transition.enters,
        'data-command': transition.command,
        'data-event': transition.event,
        'data-testid': `edge-${edge.id}`,
        ...(traffic ? { 'data-count': traffic.count } : {}),
      },
      [
        element('title', {}, [escape(tip)]),
        ...arrow(edge.sections, line, { class: 'edge-head', fill: transition.internal ? internalColour : '#66717d' }),
        edgeLabel(edge, label, traffic ? ` · ${traffic.count}` : ''),
      ],
    )
  }

  const initial = (marker: LayoutInitial) =>
    element('g', { class: 'initial', 'data-scope': marker.scope ?? '', 'data-target': marker.target }, [
      element('circle', { cx: cx(marker.dot), cy: cy(marker.dot), r: marker.dot.width / 2, fill: '#1f2a36' }),
      ...arrow(marker.sections, { stroke: '#1f2a36', 'stroke-width': 1.5 }, { fill: '#1f2a36' }),
    ])

  const footer = numbers ? legendBlock({ x: 16, y: layout.height + 8 }, options) : null
  const drawingWidth = footer ? Math.max(width, 520) : width
  const height = footer ? footer.bottom + 12 : layout.height
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${drawingWidth} ${height}" width="${drawingWidth}" height="${height}" ` +
    `class="chart" data-machine="${escape(chart.id)}" data-version="${escape(chart.version)}" role="img" ` +
    `font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" font-size="${metrics.fontSize}">\n` +
    [
      element('title', {}, [escape(title)]),
      ...(footer ? [element('rect', { x: 0, y: 0, width: drawingWidth, height, fill: '#ffffff' })] : []),
      ...containers.map(stateGroup),
      ...leaves.map(stateGroup),
      ...layout.initials.map(initial),
      ...layout.edges.map(edgeGroup),
      ...(footer ? [footer.svg] : []),
    ].join('\n') +
    '\n</svg>\n'
  )
}

const internalColour = '#7a5ea8'

/**
 * The legend (every mark, glossary.ts `legend`) and the caption, as lines of text with a sample of
 * each mark, starting at `at`; returns the SVG and where it ends.
 */
function legendBlock(at: { x: number; y: number }, options: SvgOptions): { svg: string; bottom: number } {
  const lineHeight = 18
  const parts: string[] = []
  let y = at.y + 14
  if (options.caption) {
    parts.push(element('text', { class: 'caption', x: at.x, y, 'font-size': 12, 'font-weight': 600, fill: '#1f2a36' }, [escape(options.caption)]))
    y += lineHeight + 4
  }
  for (const entry of legend(options.stuckAfter)) {
    parts.push(element('g', { class: 'legend-mark', 'data-mark': entry.mark }, [sample(entry.mark, at.x, y - 4)]))
    parts.push(element('text', { x: at.x + 34, y, 'font-size': 11, fill: '#4c5967' }, [escape(entry.text)]))
    y += lineHeight
  }
  return { svg: element('g', { class: 'legend', 'data-testid': 'legend' }, parts), bottom: y }
}

/** A small drawing of a legend mark, 26 × 12, its middle at (x + 13, y). */
function sample(mark: string, x: number, y: number): string {
  const box = { x, y: y - 6, width: 26, height: 12, rx: 3 }
  switch (mark) {
    case 'count':
      return element('text', { x: x + 13, y: y + 5, 'text-anchor': 'middle', 'font-size': 14, 'font-weight': 700, fill: '#1f2a36' }, ['12'])
    case 'dwell':
      return element('text', { x: x + 13, y: y + 4, 'text-anchor': 'middle', 'font-size': 9, fill: '#4c5967' }, ['p50'])
    case 'badge':
      return element('circle', { cx: x + 13, cy: y, r: 6, fill: '#c0392b' })
    case 'stuck':
      return element('rect', { ...box, fill: '#ffffff', stroke: '#b86e00', 'stroke-width': 2, 'stroke-dasharray': '4 2' })
    case 'final':
      return [element('rect', { ...box, fill: '#eef3ee', stroke: '#33475b' }), element('rect', { x: x + 2, y: y - 4, width: 22, height: 8, rx: 2, fill: 'none', stroke: '#33475b' })].join('')
    case 'initial':
      return element('circle', { cx: x + 13, cy: y, r: 5, fill: '#1f2a36' })
    case 'idle':
      return element('path', { d: `M${x} ${y} L${x + 26} ${y}`, stroke: '#66717d', 'stroke-width': 1.5, 'stroke-dasharray': '4 4' })
    case 'internal':
      return element('path', { d: `M${x} ${y} L${x + 26} ${y}`, stroke: internalColour, 'stroke-width': 1.5, 'stroke-dasharray': '1.5 3', 'stroke-linecap': 'round' })
    default:
      return element('path', { d: `M${x} ${y} L${x + 26} ${y}`, stroke: '#66717d', 'stroke-width': 4 })
  }
}

/**
 * A transition's label: command (and guard), then the traffic slot. The text hugs the side of its
 * box that faces the edge (ELK puts the box beside the edge and reserves room for the count), and a
 * halo in the background colour keeps it readable where it crosses a line.
 */
function edgeLabel(edge: LayoutEdge, text: string, traffic: string): string {
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
        element('tspan', { class: 'edge-traffic', 'data-slot': 'traffic', 'data-testid': `traffic-${edge.id}`, 'font-weight': 700 }, traffic ? [escape(traffic)] : []),
      ],
    ),
  ])
}

/** A state's box with its name, and slots for the count now and the dwell times (filled with `own`). */
function leafBody(node: LayoutNode, label: string, final: boolean, own: StateNumbers | undefined): string[] {
  const stuck = own !== undefined && own.stuck > 0
  return [
    element('rect', {
      ...boxAttrs(node),
      class: 'state-box',
      rx: 12,
      fill: final ? '#eef3ee' : '#ffffff',
      ...(stuck ? { stroke: '#b86e00', 'stroke-width': 3, 'stroke-dasharray': '6 3' } : { stroke: '#33475b', 'stroke-width': 1.5 }),
    }),
    // A final state has the double border of UML/Harel charts.
    ...(final ? [element('rect', { ...boxAttrs(inset(node, 4)), class: 'state-final-ring', rx: 9, fill: 'none', stroke: '#33475b' })] : []),
    element('text', { class: 'state-name', x: cx(node), y: node.y + 21, 'text-anchor': 'middle', 'font-weight': 600, 'font-size': 14, fill: '#1f2a36' }, [escape(label)]),
    slot('count', node.id, { x: cx(node), y: node.y + 50, 'text-anchor': 'middle', 'font-size': 24, 'font-weight': 700, fill: '#1f2a36' }, own ? String(own.count) : ''),
    slot('dwell', node.id, { x: cx(node), y: node.y + 70, 'text-anchor': 'middle', 'font-size': 12, fill: '#4c5967' }, own?.dwell ?? ''),
  ]
}

/** A container: a header with its name and a slot for the count of all its children. */
function compoundBody(node: LayoutNode, label: string, own: StateNumbers | undefined): string[] {
  const baseline = node.y + metrics.compoundHeader / 2 + 5
  return [
    element('rect', { ...boxAttrs(node), class: 'state-box', rx: 16, fill: '#f2f5f8', stroke: '#7d8fa1', 'stroke-width': 1.5 }),
    element('text', { class: 'state-name', x: node.x + 14, y: baseline, 'font-weight': 600, 'font-size': 14, fill: '#1f2a36' }, [escape(label)]),
    slot('count', node.id, { x: node.x + node.width - 18, y: baseline, 'text-anchor': 'end', 'font-size': 16, 'font-weight': 700, fill: '#1f2a36' }, own ? String(own.count) : ''),
  ]
}

/** Rejections in the window: a red badge on the state's top-right corner, hidden until non-zero. */
function badge(node: LayoutNode, own: StateNumbers | undefined): string {
  const at = { x: node.x + node.width - 4, y: node.y + 4 }
  const shown = own !== undefined && own.rejections > 0
  return element('g', { class: 'state-rejections', 'data-slot': 'rejections', 'data-testid': `rejections-${node.id}`, visibility: shown ? 'visible' : 'hidden' }, [
    ...(shown ? [element('title', {}, [escape(own.refused.map((r) => `${r.command} refused (${r.reason}) × ${r.count}`).join('\n'))])] : []),
    element('circle', { cx: at.x, cy: at.y, r: 12, fill: '#c0392b' }),
    element('text', { class: 'badge-count', x: at.x, y: at.y, 'text-anchor': 'middle', 'dominant-baseline': 'central', 'font-size': 11, 'font-weight': 700, fill: '#ffffff' }, shown ? [String(own.rejections)] : []),
  ])
}

function slot(name: string, state: string, attrs: Attrs, text = ''): string {
  return element('text', { class: `state-${name}`, 'data-slot': name, 'data-testid': `${name}-${state}`, ...attrs }, text ? [escape(text)] : [])
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
