import type { AnyStateNode } from 'xstate'
import type { CommandType } from './commands.js'
import { commandTypes, eventTypeOf, type EventType } from './events.js'
import { shipmentMachine } from './machine.js'

/**
 * The machine as data, read from the XState definition itself (never re-declared): states with their
 * nesting, transitions with command, event, guard and rejection reason. The review page, the docs,
 * the `allowed` lists and the projections' "state after event" all come from here.
 */
export type StateName = 'unregistered' | 'registered' | 'assigned' | 'shipped' | 'delivered' | 'cancelled'

export interface ChartState {
  /** The state's key; keys are unique in the chart, so this is also the `state` of a shipment. */
  readonly id: string
  readonly parent: string | null
  readonly type: 'atomic' | 'compound' | 'final'
  /** For a compound state, the child entered first. */
  readonly initial: string | null
  readonly description: string | null
  readonly label: string
  /** Reason given for commands this state refuses outright (e.g. `not_found`). */
  readonly rejection: string | null
}

export interface ChartTransition {
  /** Stable id: `${from}:${command}`. */
  readonly id: string
  /** The state that declares the transition (may be compound: it then applies to all its children). */
  readonly from: string
  /** The target as declared (equal to `from` for a transition without target). */
  readonly to: string
  /** The atomic state a shipment is in after the transition. */
  readonly enters: StateName
  readonly command: CommandType
  readonly event: EventType
  readonly guard: string | null
  /** Reason given when the guard refuses. */
  readonly rejection: string | null
  readonly description: string | null
}

export interface Chart {
  readonly id: string
  readonly version: string
  readonly description: string | null
  readonly initial: string
  readonly states: readonly ChartState[]
  readonly transitions: readonly ChartTransition[]
  readonly commands: readonly CommandType[]
  readonly events: readonly EventType[]
}

function nodesOf(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states).flatMap((child) => nodesOf(child as AnyStateNode))]
}

function atomicEntered(node: AnyStateNode): AnyStateNode {
  let current = node
  while (current.type === 'compound') {
    const initialKey = current.config.initial as string
    current = current.states[initialKey] as AnyStateNode
  }
  return current
}

function buildChart(): Chart {
  const root = shipmentMachine.root
  const nodes = nodesOf(root).slice(1)
  const meta = (node: AnyStateNode) => (node.meta ?? {}) as { label?: string; rejection?: string }
  const states: ChartState[] = nodes.map((node) => ({
    id: node.key,
    parent: node.parent && node.parent !== root ? node.parent.key : null,
    type: node.type === 'final' ? 'final' : node.type === 'compound' ? 'compound' : 'atomic',
    initial: node.type === 'compound' ? (node.config.initial as string) : null,
    description: node.description ?? null,
    label: meta(node).label ?? node.key,
    rejection: meta(node).rejection ?? null,
  }))
  const transitions: ChartTransition[] = []
  for (const node of nodes) {
    for (const [command, definitions] of node.transitions) {
      for (const definition of definitions) {
        const target = (definition.target?.[0] as AnyStateNode | undefined) ?? node
        const transitionMeta = (definition.meta ?? {}) as { rejection?: string }
        transitions.push({
          id: `${node.key}:${command}`,
          from: node.key,
          to: target.key,
          enters: atomicEntered(target).key as StateName,
          command: command as CommandType,
          event: eventTypeOf[command as CommandType],
          guard: guardName(definition.guard),
          rejection: transitionMeta.rejection ?? null,
          description: definition.description ?? null,
        })
      }
    }
  }
  return {
    id: shipmentMachine.id,
    version: shipmentMachine.version ?? '0',
    description: root.description ?? null,
    initial: root.config.initial as string,
    states,
    transitions,
    commands: commandTypes,
    events: Object.values(eventTypeOf),
  }
}

export const shipmentChart: Chart = deepFreeze(buildChart())

export const stateNames: ReadonlySet<StateName> = new Set(
  shipmentChart.states.filter((s) => s.type !== 'compound').map((s) => s.id as StateName),
)

/** Atomic states a shipment can be in once it exists (everything but the initial `unregistered`). */
export const shipmentStates: readonly StateName[] = [...stateNames].filter((s) => s !== shipmentChart.initial)

function ancestorsAndSelf(stateId: string): string[] {
  const chain: string[] = []
  for (let id: string | null = stateId; id; id = shipmentChart.states.find((s) => s.id === id)?.parent ?? null) chain.push(id)
  return chain
}

const allowedByState = new Map<StateName, readonly CommandType[]>(
  [...stateNames].map((state) => {
    const scope = new Set(ancestorsAndSelf(state))
    const allowed = commandTypes.filter((command) => shipmentChart.transitions.some((t) => t.command === command && scope.has(t.from)))
    return [state, Object.freeze(allowed)]
  }),
)

/** The chart transition a command takes from an atomic state (declared on it or on an ancestor). */
export function transitionFrom(state: StateName, command: CommandType): ChartTransition | undefined {
  const scope = ancestorsAndSelf(state)
  for (const from of scope) {
    const found = shipmentChart.transitions.find((t) => t.from === from && t.command === command)
    if (found) return found
  }
  return undefined
}

/** Final states: a shipment there never moves again (no dwell time, never "stuck"). */
export const finalStates: ReadonlySet<StateName> = new Set(
  shipmentChart.states.filter((s) => s.type === 'final').map((s) => s.id as StateName),
)

/** The commands a shipment in `state` may be sent (guards aside), in the machine's command order. */
export function allowedIn(state: StateName): readonly CommandType[] {
  return allowedByState.get(state) ?? []
}

/** The atomic state every event type leads to (unique per event type; checked by the chart tests). */
export const stateAfterEvent: Readonly<Record<EventType, StateName>> = Object.freeze(
  Object.fromEntries(shipmentChart.transitions.map((t) => [t.event, t.enters])) as Record<EventType, StateName>,
)

function guardName(guard: unknown): string | null {
  if (typeof guard === 'string') return guard
  if (guard && typeof guard === 'object' && 'type' in guard) return String(guard.type)
  return null
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner)
    Object.freeze(value)
  }
  return value
}
