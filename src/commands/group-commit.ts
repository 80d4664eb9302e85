import type { NewCommand, SubmitResult } from '../store/types.js'

/**
 * The intake's group commit: commands submitted by the HTTP routes wait here, in arrival order, for
 * the next decision cycle, which inserts them into the inbox in the same write transaction as its
 * decisions (one fsync for both) and then settles each submission with its SubmitResult. The
 * submission resolves only once its command is durable: that commit is the acceptance.
 *
 * Bounded: beyond `maxIntake` waiting submissions, `submit` refuses at once (code INTAKE_FULL, a 503)
 * instead of queueing in memory without limit.
 */
export interface Submission {
  /** One command, or an offline batch's items: committed together, in this order, in one transaction. */
  readonly commands: readonly NewCommand[]
  readonly resolve: (results: SubmitResult[]) => void
  readonly reject: (error: unknown) => void
  /** When it was submitted (how long it may wait for a locked database counts from here). */
  readonly since: number
}

export class GroupCommit {
  #waiting: Submission[] = []
  /** Commands in #waiting. */
  #backlog = 0
  #stopped = false
  #listener: (() => void) | null = null

  constructor(private readonly options: { readonly maxIntake?: number; readonly clock: () => number }) {}

  /** The drain loop listens here: a submission asks for a cycle. */
  onSubmit(listener: () => void): void {
    this.#listener = listener
  }

  /** Resolves once the command is durable (with its SubmitResult: new, replay or key conflict). */
  async submit(command: NewCommand): Promise<SubmitResult> {
    return (await this.submitAll([command]))[0]!
  }

  /**
   * Commands committed together, in this order, in one transaction (an offline batch: all of it is
   * durable, or none). Counts as one submission against `maxIntake`.
   */
  submitAll(commands: readonly NewCommand[]): Promise<SubmitResult[]> {
    if (this.#stopped) return Promise.reject(Object.assign(new Error('the worker is stopping'), { code: 'WORKER_STOPPED' }))
    if (this.#waiting.length >= (this.options.maxIntake ?? Infinity)) {
      return Promise.reject(Object.assign(new Error(`${this.#waiting.length} submissions are waiting to be committed`), { code: 'INTAKE_FULL' }))
    }
    return new Promise((resolve, reject) => {
      this.#waiting.push({ commands, resolve, reject, since: this.options.clock() })
      this.#backlog += commands.length
      this.#listener?.()
    })
  }

  /** Commands waiting for their commit (admission control counts them with the inbox's backlog). */
  backlog(): number {
    return this.#backlog
  }

  /** The oldest submissions, up to `max` commands (at least one submission, however large), for the next cycle. */
  take(max: number): Submission[] {
    let count = 0
    let n = 0
    while (n < this.#waiting.length && (n === 0 || count + this.#waiting[n]!.commands.length <= max)) count += this.#waiting[n++]!.commands.length
    this.#backlog -= count
    return this.#waiting.splice(0, n)
  }

  /** Submissions a failed cycle could not commit go back to the front, in order. */
  putBack(submissions: readonly Submission[]): void {
    this.#waiting.unshift(...submissions)
    this.#backlog += submissions.reduce((n, s) => n + s.commands.length, 0)
  }

  /** Refuses everything waiting and every later submission (the process is stopping). */
  stop(): void {
    this.#stopped = true
    this.#backlog = 0
    for (const s of this.#waiting.splice(0)) s.reject(Object.assign(new Error('the worker stopped'), { code: 'WORKER_STOPPED' }))
  }
}
