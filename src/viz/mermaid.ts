import type { Chart } from '../../machines/chart.js'
import { edgeLabelText } from './layout.js'

/**
 * The chart as Mermaid `stateDiagram-v2` text (for wikis, READMEs and design reviews), derived from the
 * chart alone. Compound states become `state <id> { … }` blocks; each transition is written in the
 * innermost block that holds both its ends (Mermaid scopes a state to the block it first appears
 * in, so every state is declared in its own block before a transition names it, and a transition
 * leaving a block, like SHIP, comes after that block); final states point at `[*]`. Long-standing
 * syntax only: a state whose label differs from its id is declared `state "label" as id`, and a
 * compound state keeps its id as title (older renderers reject a labelled block `state "…" as id {`).
 */
export function renderMermaid(chart: Chart): string {
  const parentOf = new Map(chart.states.map((s) => [s.id, s.parent]))
  /** The compound states around a state, innermost first, then null (the machine). */
  const ancestors = (id: string): Array<string | null> => {
    const chain: Array<string | null> = []
    for (let at = parentOf.get(id) ?? null; at !== null; at = parentOf.get(at) ?? null) chain.push(at)
    return [...chain, null]
  }
  /** The innermost block (compound state, or null for the machine) enclosing both ends. */
  const scopeOf = (from: string, to: string): string | null => {
    const around = new Set(ancestors(to))
    return ancestors(from).find((scope) => around.has(scope)) ?? null
  }

  const block = (scope: string | null, indent: string): string[] => {
    const members = chart.states.filter((s) => s.parent === scope)
    const initial = scope === null ? chart.initial : chart.states.find((s) => s.id === scope)?.initial
    return [
      ...members.flatMap((s) =>
        s.type === 'compound'
          ? [`${indent}state ${s.id} {`, ...block(s.id, `${indent}  `), `${indent}}`]
          : [s.label === s.id ? `${indent}${s.id}` : `${indent}state "${quoted(s.label)}" as ${s.id}`],
      ),
      ...(initial ? [`${indent}[*] --> ${initial}`] : []),
      ...chart.transitions.filter((t) => scopeOf(t.from, t.to) === scope).map((t) => `${indent}${t.from} --> ${t.to} : ${labelText(edgeLabelText(t))}`),
      ...members.filter((s) => s.type === 'final').map((s) => `${indent}${s.id} --> [*]`),
    ]
  }

  return [
    '---',
    `title: ${chart.id} v${chart.version}`,
    '---',
    'stateDiagram-v2',
    `  %% Generated from the ${chart.id} machine (version ${chart.version}); edit the machine, not this text.`,
    ...block(null, '  '),
    '',
  ].join('\n')
}

/** A state label inside double quotes: Mermaid's entity for the quote itself. */
const quoted = (text: string) => text.replace(/"/g, '#quot;').replace(/\s+/g, ' ')

/** Mermaid ends a transition label at `:`, `;`, `#` (comment) or a line break. */
const labelText = (text: string) => text.replace(/[:;#\n\r]+/g, ' ')
