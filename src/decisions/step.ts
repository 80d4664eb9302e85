import type { AggregateKind } from '../../machines/kind.js'
import type { Actor } from '../projections/actors.js'
import type { CommandMetadata, InboxCommand, NewCommand, StoredWait } from '../store/types.js'

/**
 * One command's decision, as data: what a kind's handler returns for a command and the actor it is
 * for, and all the decision cycle needs to write. Handlers are pure (no I/O, no clock: `now` comes
 * in); the cycle turns steps into appends, outcomes, checkpoints, waits and messages.
 */
export interface CommandRef {
  readonly seq: number
  readonly commandId: string
  readonly type: string
  readonly receivedAt: number
}

export interface StepOutcome {
  /** The command the outcome is for: the one decided, or the one a saga's reply completes. */
  readonly command: CommandRef & { readonly metadata?: { readonly scannedAt?: string } }
  readonly status: 'accepted' | 'rejected'
  readonly reason: string | null
  readonly detail: string | null
  /** The state the command was decided in. */
  readonly decidedState: string | null
  /** It recorded the step's event. */
  readonly recordsEvent: boolean
}

export interface StepEvent {
  readonly type: string
  readonly data: unknown
  /** Who, where, when: the metadata of the command that caused it. */
  readonly cause: { readonly commandId: string; readonly metadata: CommandMetadata; readonly receivedAt: number }
}

export interface Step {
  /** The event appended to the command's stream (at most one per step), and the snapshot after it. */
  readonly event: StepEvent | null
  readonly snapshot: unknown
  /** Outcomes recorded now: none while the command waits for another actor's answer. */
  readonly outcomes: readonly StepOutcome[]
  /** Messages to other actors (inserted into their inboxes in this transaction). */
  readonly messages: readonly NewCommand[]
  /** The stream's saga wait after the step: a new one, null (ended), or undefined (unchanged). */
  readonly wait?: StoredWait | null
}

export interface StepContext {
  /** The cycle's time (epoch ms). */
  readonly now: number
  /** The version of another stream (0: none), when the handler asked to `peek` it; undefined if not read. */
  readonly version: (streamId: string) => number | undefined
  /** The partition a stream belongs to (for messages). */
  readonly partitionOf: (streamId: string) => number
}

/** What a kind contributes to the decision cycle: checking stored payloads, and deciding. */
export interface KindHandler {
  readonly kind: AggregateKind<any, any, any>
  /** The stored payload as a command of the kind (throws InvalidStoredCommandError). */
  parse(command: InboxCommand): { readonly type: string }
  /** Streams whose version the decision needs (read in the same transaction). */
  peeks?(command: InboxCommand, parsed: { readonly type: string }, actor: Actor): readonly string[]
  decide(actor: Actor, command: InboxCommand, parsed: { readonly type: string }, context: StepContext): Step
}

/** The plain case: the machine decides the command, one outcome, at most one event. */
export function machineStep(actor: Actor, command: InboxCommand, parsed: { readonly type: string }): Step {
  const decision = actor.kind.decide(actor.snapshot, parsed)
  const ref = command
  const state = actor.kind.stateOf(actor.snapshot)
  if (decision.outcome === 'rejected') {
    return {
      event: null,
      snapshot: actor.snapshot,
      outcomes: [{ command: ref, status: 'rejected', reason: decision.reason, detail: decision.detail, decidedState: decision.state, recordsEvent: false }],
      messages: [],
    }
  }
  return {
    event: { type: decision.event.type, data: decision.event.data, cause: command },
    snapshot: decision.snapshot,
    outcomes: [{ command: ref, status: 'accepted', reason: null, detail: null, decidedState: state, recordsEvent: true }],
    messages: [],
  }
}
