import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { packageRoot } from '../../src/package-info.js'

/**
 * The top of a V8 CPU profile (`node --cpu-prof`): self time per function — where the samples were
 * taken, not what called it — as a share of the busy time (idle left out). Functions are named with
 * their file and line; node_modules files by package.
 */
interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
}
interface CpuProfile {
  readonly startTime: number
  readonly nodes: readonly ProfileNode[]
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

export interface ProfileTop {
  readonly busyMs: number
  readonly rows: ReadonlyArray<{ readonly name: string; readonly ms: number; readonly share: number }>
}

/** Now on the clock V8 stamps profile samples with (the monotonic clock, µs), in any process. */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n)

/** `window`: only the samples taken within it (the measured load, not the start-up), in `monotonicUs`. */
export function profileTop(file: string, window: { fromUs: number; toUs: number }, count = 10): ProfileTop {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const nameOf = new Map(profile.nodes.map((n) => [n.id, frameName(n.callFrame)]))
  const self = new Map<string, number>()
  let at = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0
    at += delta
    if (at < window.fromUs || at > window.toUs) continue
    const name = nameOf.get(profile.samples[i]!)!
    self.set(name, (self.get(name) ?? 0) + delta / 1000)
  }
  self.delete('(idle)')
  const busyMs = [...self.values()].reduce((a, b) => a + b, 0)
  const rows = [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, ms]) => ({ name, ms, share: ms / busyMs }))
  return { busyMs, rows }
}

function frameName(frame: ProfileNode['callFrame']): string {
  if (!frame.url) return frame.functionName || '(anonymous)'
  const path = frame.url.replace(/^file:\/\//, '')
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(path)
  const where = modules ? `${modules[1]}/${modules[2]}` : path.startsWith('node:') ? path : relative(packageRoot, path)
  return `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber + 1}`
}

/** The one profile a process wrote into `dir` (`--cpu-prof-dir`). */
export function profileIn(dir: string): string {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))
  if (files.length !== 1) throw new Error(`expected one .cpuprofile in ${dir}, found ${files.length}`)
  return join(dir, files[0]!)
}

export function profileLines(title: string, top: ProfileTop): string[] {
  return [
    `### ${title} (${(top.busyMs / 1000).toFixed(1)} s busy in the measured window)`, '',
    '| # | function (self time) | share |', '|---:|---|---:|',
    ...top.rows.map((r, i) => `| ${i + 1} | \`${r.name}\` | ${(r.share * 100).toFixed(1)}% |`),
  ]
}
