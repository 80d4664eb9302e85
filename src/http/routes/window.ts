import { problem, type ProblemBody } from '../problems.js'

/**
 * A request's time window (`from`, `to`: ISO 8601, both inclusive): as given, and as the epoch-ms
 * range the read models are read with. `from` after `to` is a 400, as for `/stats`.
 *
 * Absent, `to` is now. Absent, `from` is the beginning — or, where the window is bounded (`maxMs`: the
 * review routes, whose cost grows with the window), `defaultMs` before `to`; a longer window there is
 * a 400: a year of history is never read in one request.
 */
export interface RequestWindow {
  readonly given: { readonly from?: number; readonly to?: number }
  readonly from: number
  readonly to: number
}

export interface WindowBounds {
  readonly maxMs: number
  readonly defaultMs: number
}

/** The review routes' windows: at most 31 days (a month, whatever its length, in any zone); 24 hours by default. */
export const reviewWindow: WindowBounds = { maxMs: 31 * 86_400_000 + 3_600_000, defaultMs: 86_400_000 }

export function windowOf(query: { readonly from?: string; readonly to?: string }, now: number, bounds?: WindowBounds): RequestWindow | { readonly problem: ProblemBody } {
  const given = { from: query.from === undefined ? undefined : Date.parse(query.from), to: query.to === undefined ? undefined : Date.parse(query.to) }
  if (given.from !== undefined && given.to !== undefined && given.from > given.to) return { problem: problem('invalid-request', '`from` is after `to`') }
  const to = given.to ?? Math.max(now, given.from ?? 0)
  const from = given.from ?? (bounds ? to - bounds.defaultMs : 0)
  if (bounds && to - from > bounds.maxMs) {
    return { problem: problem('invalid-request', `a window of at most ${Math.floor(bounds.maxMs / 86_400_000)} days: these numbers are read per request, and a longer one would hold up the depot's scans`) }
  }
  return { given: { from, ...(given.to === undefined ? {} : { to: given.to }) }, from, to }
}
