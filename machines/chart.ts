import type { AnyStateMachine, AnyStateNode } from 'xstate'

/**
 * A statechart as data, read from the XState definition itself (never re-declared): states with their
 * nesting, transitions with command, event, guard and rejection reason. The review page, the docs,
 * the `allowed` lists and the projections' "state after event" all come from here, for every kind.
 */
export interface ChartState {
  /** The state's key; keys are unique in a chart, so this is also what the API shows as `state`. */
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

export interface ChartTransition<C extends string = string, E extends string = string> {
  /** Stable id: `${from}:${command}`. */
  readonly id: string
  /** The state that declares the transition (may be compound: it then applies to all its children). */
  readonly from: string
  /** The target as declared (equal to `from` for a transition without target). */
  readonly to: string
  /** The atomic state the aggregate is in after the transition. */
  readonly enters: string
  readonly command: C
  readonly event: E
  readonly guard: string | null
  /** Reason given when the guard refuses. */
  readonly rejection: string | null
  readonly description: string | null
  /** Sent by another actor (a saga's message), never by a scanner. */
  readonly internal: boolean
}

export interface Chart<C extends string = string, E extends string = string> {
  readonly id: string
  readonly version: string
  readonly description: string | null
  readonly initial: string
  readonly states: readonly ChartState[]
  readonly transitions: readonly ChartTransition<C, E>[]
  /** The commands scanners send (messages between actors are left out). */
  readonly commands: readonly C[]
  readonly events: readonly E[]
}

function nodesOf(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states).flatMap((child) => nodesOf(child as AnyStateNode))]
}

function atomicEntered(node: AnyStateNode): AnyStateNode {
  let current = node
  while (current.type === 'compound') current = current.states[current.config.initial as string] as AnyStateNode
  return current
}

function guardName(guard: unknown): string | null {
  if (typeof guard === 'string') return guard
  if (guard && typeof guard === 'object' && 'type' in guard) return String(guard.type)
  return null
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner)
    Object.freeze(value)
  }
  return value
}

/** The chart of `machine`; `eventTypeOf` maps each command to the event it records. */
export function buildChart<C extends string, E extends string>(
  machine: AnyStateMachine,
  eventTypeOf: Readonly<Record<C, E>>,
  internal: readonly C[] = [],
): Chart<C, E> {
  const root = machine.root
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
  const transitions: ChartTransition<C, E>[] = []
  for (const node of nodes) {
    for (const [command, definitions] of node.transitions) {
      for (const definition of definitions) {
        const target = (definition.target?.[0] as AnyStateNode | undefined) ?? node
        transitions.push({
          id: `${node.key}:${command}`,
          from: node.key,
          to: target.key,
          enters: atomicEntered(target).key,
          command: command as C,
          event: eventTypeOf[command as C],
          guard: guardName(definition.guard),
          rejection: ((definition.meta ?? {}) as { rejection?: string }).rejection ?? null,
          description: definition.description ?? null,
          internal: internal.includes(command as C),
        })
      }
    }
  }
  const commands = (Object.keys(eventTypeOf) as C[]).filter((c) => !internal.includes(c))
  return deepFreeze({
    id: machine.id,
    version: machine.version ?? '0',
    description: root.description ?? null,
    initial: root.config.initial as string,
    states,
    transitions,
    commands,
    events: [...new Set(Object.values(eventTypeOf) as E[])],
  })
}

/** The chain from a state to the root (the state itself first). */
export function ancestorsAndSelf(chart: Pick<Chart, 'states'>, stateId: string): string[] {
  const chain: string[] = []
  for (let id: string | null = stateId; id; id = chart.states.find((s) => s.id === id)?.parent ?? null) chain.push(id)
  return chain
}
