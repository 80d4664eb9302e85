import elkjs, { type ElkExtendedEdge, type ElkLabel, type ElkNode } from 'elkjs/lib/elk.bundled.js'
import type { Chart } from '../../machines/chart.js'
import { transitionLabel } from './glossary.js'

/**
 * The state chart's geometry, computed by ELK's layered algorithm from the chart alone: one node per
 * chart state (a compound state is a container around its children), one routed edge per chart
 * transition (a transition declared on a compound state leaves the container's border; a transition
 * without target is a self-loop), and one "initial" marker per scope (the machine and every compound
 * state) pointing at the state entered first.
 *
 * Contract: every coordinate is absolute (origin top-left of the drawing, y down), so consumers never
 * add up parent offsets. `nodes` and `edges` follow the chart's order (parents before children). The
 * layout depends only on the chart, so callers compute it once per machine version and cache it.
 */
export interface Point {
  readonly x: number
  readonly y: number
}

export interface Box extends Point {
  readonly width: number
  readonly height: number
}

export interface LayoutNode extends Box {
  /** The chart state's id. */
  readonly id: string
  readonly type: 'atomic' | 'compound' | 'final'
  /** The containing (compound) state, null at the top level. */
  readonly parent: string | null
  readonly children: readonly string[]
}

/** One routed stretch of an edge: from `start` through `bends` to `end` (which touches the target). */
export interface EdgeSection {
  readonly start: Point
  readonly bends: readonly Point[]
  readonly end: Point
}

export interface LayoutEdge {
  /** The chart transition's id (`<from>:<COMMAND>`). */
  readonly id: string
  readonly from: string
  readonly to: string
  readonly sections: readonly EdgeSection[]
  /** Where the label box (the transition's words, then its traffic) goes. */
  readonly label: Box & { readonly text: string }
}

/** The filled dot of a scope (null: the machine itself) with its arrow to the state entered first. */
export interface LayoutInitial {
  readonly scope: string | null
  readonly target: string
  readonly dot: Box
  readonly sections: readonly EdgeSection[]
}

export interface ChartLayout {
  readonly machine: { readonly id: string; readonly version: string }
  readonly width: number
  readonly height: number
  readonly nodes: readonly LayoutNode[]
  readonly edges: readonly LayoutEdge[]
  readonly initials: readonly LayoutInitial[]
}

/** Sizes in drawing units (px at scale 1); svg.ts draws into these boxes. */
export const metrics = {
  /** An atomic state: name, count now, dwell line. */
  state: { width: 150, height: 80 },
  /** Room above a compound state's children for its header (name, count). */
  compoundHeader: 36,
  compoundPadding: 16,
  initialDot: 14,
  fontSize: 13,
  /** ELK cannot measure text on the server: an upper estimate of a 13 px sans-serif glyph. */
  charWidth: 7.6,
  labelHeight: 20,
  labelPadding: 6,
  /** Space kept in every edge label for the traffic count the page writes next to the command. */
  trafficRoom: ' · 0000',
} as const

/** The text of a transition's label in UML notation: the command, and its guard in brackets (Mermaid text for engineers). */
export function edgeLabelText(transition: { readonly command: string; readonly guard: string | null }): string {
  return transition.guard ? `${transition.command} [${transition.guard}]` : transition.command
}

// elkjs is CommonJS: Node hands an ES module its `module.exports` (the constructor), while its types
// describe an ES module with a default export. The bundle sets `module.exports.default` to the
// constructor itself, so `.default` is right for both.
const ELK = elkjs.default

const initialId = (scope: string | null) => `(initial ${scope ?? 'machine'})`

/** Where each scope starts: the machine at its initial state, each compound state at its own. */
function startsOf(chart: Chart): Array<{ scope: string | null; target: string }> {
  const compounds = chart.states.filter((s) => s.type === 'compound')
  return [{ scope: null, target: chart.initial }, ...compounds.flatMap((s) => (s.initial ? [{ scope: s.id, target: s.initial }] : []))]
}

/** Spacing applies per graph: the root and every container get it. */
const spacing = {
  'elk.layered.spacing.nodeNodeBetweenLayers': '30',
  'elk.layered.spacing.edgeNodeBetweenLayers': '12',
  'elk.spacing.nodeNode': '28',
  'elk.spacing.edgeNode': '20',
  'elk.spacing.edgeLabel': '6',
  // A self-loop (reassign) wide enough to read and to click.
  'elk.spacing.nodeSelfLoop': '32',
}

const layoutOptions = {
  'elk.algorithm': 'layered',
  // Top to bottom: fits a tablet held upright, and a laptop screen beside the side panel.
  'elk.direction': 'DOWN',
  // One layering across the hierarchy, so edges may cross container borders (SHIP, CANCEL).
  'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.edgeLabels.placement': 'CENTER',
  'elk.padding': '[top=16,left=16,bottom=16,right=16]',
  ...spacing,
  // Absolute coordinates for shapes and edges alike (see the contract above).
  'elk.json.shapeCoords': 'ROOT',
  'elk.json.edgeCoords': 'ROOT',
}

function textBox(text: string): ElkLabel {
  const chars = text.length + metrics.trafficRoom.length
  return { text, width: Math.ceil(chars * metrics.charWidth + 2 * metrics.labelPadding), height: metrics.labelHeight }
}

/** The chart as an ELK graph: states nested as in the chart, transitions and initial arrows as edges. */
function elkGraph(chart: Chart): ElkNode {
  const starts = startsOf(chart)
  const childrenOf = (scope: string | null): ElkNode[] => [
    ...starts.filter((start) => start.scope === scope).map((start) => ({ id: initialId(start.scope), width: metrics.initialDot, height: metrics.initialDot })),
    ...chart.states
      .filter((s) => s.parent === scope)
      .map((s): ElkNode =>
        s.type === 'compound'
          ? {
              id: s.id,
              layoutOptions: {
                ...spacing,
                'elk.padding': `[top=${metrics.compoundHeader},left=${metrics.compoundPadding},bottom=${metrics.compoundPadding},right=${metrics.compoundPadding}]`,
              },
              children: childrenOf(s.id),
            }
          : {
              id: s.id,
              width: metrics.state.width,
              height: metrics.state.height,
              // A state with several self-loops (a loading truck answers four kinds of message) spreads
              // them round its sides instead of nesting them all on one.
              layoutOptions: { 'elk.layered.edgeRouting.selfLoopDistribution': 'EQUALLY' },
            },
      ),
  ]
  const initialEdges = starts.map(({ scope, target }): ElkExtendedEdge => ({ id: initialId(scope), sources: [initialId(scope)], targets: [target] }))
  // Cycles (ASSIGN ⇄ UNASSIGN) are broken along the machine's declaration order: a transition to a
  // state declared later is asked to point in the layout direction, so the flow reads top to bottom
  // the way the machine is written. (ELK's own MODEL_ORDER cycle breaking crashes on nested graphs.)
  const order = new Map(chart.states.map((s, index) => [s.id, index]))
  const forward = (t: { from: string; to: string }) => (order.get(t.from) ?? 0) < (order.get(t.to) ?? 0)
  const transitionEdges = chart.transitions.map(
    (t): ElkExtendedEdge => ({
      id: t.id,
      sources: [t.from],
      targets: [t.to],
      labels: [textBox(transitionLabel(t))],
      ...(forward(t) ? { layoutOptions: { 'elk.layered.priority.direction': '10' } } : {}),
    }),
  )
  return { id: `(${chart.id})`, layoutOptions, children: childrenOf(null), edges: [...initialEdges, ...transitionEdges] }
}

function descendants(node: ElkNode): ElkNode[] {
  return (node.children ?? []).flatMap((child) => [child, ...descendants(child)])
}

function box(shape: { x?: number; y?: number; width?: number; height?: number }, what: string): Box {
  const { x, y, width, height } = shape
  if (x === undefined || y === undefined || width === undefined || height === undefined) throw new Error(`ELK left ${what} without geometry`)
  return { x: round(x), y: round(y), width: round(width), height: round(height) }
}

function sectionsOf(edge: ElkExtendedEdge): EdgeSection[] {
  const sections = edge.sections ?? []
  if (sections.length === 0) throw new Error(`ELK did not route edge ${edge.id}`)
  return sections.map((s) => ({ start: point(s.startPoint), bends: (s.bendPoints ?? []).map(point), end: point(s.endPoint) }))
}

const round = (n: number) => Math.round(n * 10) / 10
const point = (p: Point): Point => ({ x: round(p.x), y: round(p.y) })

/**
 * Lays the chart out. Pure in effect (same chart ⇒ same layout) but costs ELK's start-up and a
 * layered layout run (~0.1–0.2 s): call it once per chart and keep the result. Beware that ELK runs
 * its work in a timer, so an internal ELK error escapes as an uncaught exception rather than a
 * rejection: the chart's layout is exercised by the tests for exactly that reason.
 */
export async function layoutChart(chart: Chart): Promise<ChartLayout> {
  const elk = new ELK()
  const laidOut = await elk.layout(elkGraph(chart))
  const shapes = new Map(descendants(laidOut).map((n) => [n.id, n]))
  const edges = new Map((laidOut.edges ?? []).map((e) => [e.id, e]))
  const shape = (id: string) => {
    const found = shapes.get(id)
    if (!found) throw new Error(`ELK lost node ${id}`)
    return found
  }
  const edge = (id: string) => {
    const found = edges.get(id)
    if (!found) throw new Error(`ELK lost edge ${id}`)
    return found
  }

  const nodes = chart.states.map(
    (s): LayoutNode => ({
      id: s.id,
      type: s.type,
      parent: s.parent,
      children: chart.states.filter((c) => c.parent === s.id).map((c) => c.id),
      ...box(shape(s.id), `state ${s.id}`),
    }),
  )
  const transitions = chart.transitions.map((t): LayoutEdge => {
    const routed = edge(t.id)
    const label = routed.labels?.[0]
    if (!label?.text) throw new Error(`ELK lost the label of ${t.id}`)
    return { id: t.id, from: t.from, to: t.to, sections: sectionsOf(routed), label: { text: label.text, ...box(label, `label of ${t.id}`) } }
  })
  const initials = startsOf(chart).map(
    ({ scope, target }): LayoutInitial => ({ scope, target, dot: box(shape(initialId(scope)), `initial of ${scope}`), sections: sectionsOf(edge(initialId(scope))) }),
  )
  return {
    machine: { id: chart.id, version: chart.version },
    width: Math.ceil(laidOut.width ?? 0),
    height: Math.ceil(laidOut.height ?? 0),
    nodes,
    edges: transitions,
    initials,
  }
}
