import type { Chart, ChartTransition } from '../../machines/chart.js'
import { messageTypes } from '../../machines/kinds.js'
import { rejectionReasons, type RejectionReason } from '../../machines/shipment/index.js'
import { truckRejectionReasons, type TruckRejectionReason } from '../../machines/truck/index.js'

/**
 * The process map's words for people: every state, transition, command and refusal reason in plain
 * language, never a code name. They come from the machines themselves — a state's `meta.label` and
 * `description`, a transition's `description` — so the chart, the page, the printed report and the
 * SVG say the same thing, and a machine change brings its words along.
 *
 * Convention (docs/process-map.md): a transition's description is "<label>. <explanation>": its
 * first sentence is the label drawn on the arrow ("Reassign"), the rest the tooltip.
 */
export interface StateWords {
  readonly label: string
  readonly description: string | null
  readonly type: 'atomic' | 'compound' | 'final'
  readonly parent: string | null
}

export interface TransitionWords {
  readonly label: string
  readonly description: string | null
  /** The command, as its label says it (the arrow of the first transition that takes it). */
  readonly command: string
  readonly from: string
  readonly to: string
  /** A message between a shipment and its truck, not a scan. */
  readonly internal: boolean
}

export interface MachineWords {
  readonly id: string
  readonly version: string
  readonly description: string | null
  readonly initial: string
  readonly states: Readonly<Record<string, StateWords>>
  readonly transitions: Readonly<Record<string, TransitionWords>>
  /** Each command type in words (the label of the first transition that takes it). */
  readonly commands: Readonly<Record<string, string>>
}

export type ReasonCode = RejectionReason | TruckRejectionReason | 'discarded'

/**
 * Why a command was refused, for people. A full record over the machines' reason codes: a new code
 * does not compile until it has its words.
 */
export const reasonWords: Readonly<Record<ReasonCode, string>> = {
  invalid_transition: 'not allowed in this state',
  not_found: 'never registered',
  already_registered: 'already registered',
  same_truck: 'already on that truck',
  awaiting_departure: 'waits for its truck: it ships when the truck departs',
  truck_full: 'the truck is full',
  truck_departed: 'the truck has already left',
  reservations_open: 'places are still held for shipments leaving another truck',
  discarded: 'discarded by an administrator after it kept failing',
}

/** Where a truck's command is refused for a reason that reads differently for a truck. */
export const truckReasonWords: Readonly<Partial<Record<ReasonCode, string>>> = {
  not_found: 'the truck was never opened',
  already_registered: 'the truck is already open',
}

/** The reasons every machine can give (the contract's codes), each with its words. */
export const reasonCodes: readonly ReasonCode[] = [...new Set<ReasonCode>([...rejectionReasons, ...truckRejectionReasons, 'discarded'])]

/** Messages between actors that no chart draws, in words (they appear on a shipment's timeline). */
const messageWords: Readonly<Partial<Record<(typeof messageTypes)[number], string>>> = {
  TRUCK_REPLY: 'Answer from the truck',
  DEPART_NOW: 'Depart once held places are settled',
}

/** The first sentence of a description: "Reassign. Moved to…" → "Reassign". */
export function firstSentence(description: string): string {
  const end = description.search(/\.(\s|$)/)
  return (end < 0 ? description : description.slice(0, end)).trim()
}

/** What a description says after its first sentence ("" when it is only a label). */
export function explanation(description: string | null): string {
  if (!description) return ''
  const end = description.search(/\.(\s|$)/)
  return end < 0 ? '' : description.slice(end + 1).trim()
}

/** Every mark on the chart, explained (the page's legend, the SVG with numbers, the printed report). */
export interface LegendEntry {
  readonly mark: 'count' | 'dwell' | 'badge' | 'stuck' | 'traffic' | 'idle' | 'internal' | 'final' | 'initial'
  readonly text: string
}

export function legend(stuckAfter = 'the threshold'): LegendEntry[] {
  return [
    { mark: 'count', text: 'Big number in a state: shipments (or trucks) in it now.' },
    { mark: 'dwell', text: 'Small line: how long they stayed there before moving on, in the window: median (p50) and 95th percentile (p95).' },
    { mark: 'badge', text: 'Red badge: scans refused in that state in the window.' },
    { mark: 'stuck', text: `Dashed orange border: something has been in that state for more than ${stuckAfter} (stuck).` },
    { mark: 'traffic', text: 'Arrow with a number: how often it was taken in the window; the thicker, the busier.' },
    { mark: 'idle', text: 'Dashed grey arrow: not taken in the window.' },
    { mark: 'internal', text: 'Dotted purple arrow: a message between a shipment and its truck, not a scan.' },
    { mark: 'final', text: 'Double border: a final state; nothing leaves it.' },
    { mark: 'initial', text: 'Black dot: where everything starts.' },
  ]
}

/** A command code in words when nothing better is known: `DEPART_SHIP` → "Depart ship". */
function sentenceCase(code: string): string {
  const words = code.toLowerCase().replace(/_/g, ' ')
  return words.charAt(0).toUpperCase() + words.slice(1)
}

/** The words on a transition's arrow. */
export function transitionLabel(transition: Pick<ChartTransition, 'description' | 'command'>): string {
  return transition.description ? firstSentence(transition.description) : sentenceCase(transition.command)
}

export function machineWords(chart: Chart): MachineWords {
  const commands: Record<string, string> = {}
  for (const t of chart.transitions) commands[t.command] ??= transitionLabel(t)
  for (const [type, words] of Object.entries(messageWords)) commands[type] ??= words
  return {
    id: chart.id,
    version: chart.version,
    description: chart.description,
    initial: chart.initial,
    states: Object.fromEntries(chart.states.map((s) => [s.id, { label: s.label, description: s.description, type: s.type, parent: s.parent }])),
    transitions: Object.fromEntries(
      chart.transitions.map((t) => [
        t.id,
        { label: transitionLabel(t), description: t.description, command: commands[t.command]!, from: t.from, to: t.to, internal: t.internal },
      ]),
    ),
    commands,
  }
}
