import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * Where the installation lives and which version it is, the same whether the code runs from `src/`
 * (tests) or from the compiled `dist/src/`: the nearest directory up from here holding package.json.
 */
function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`)
  }
}

export const packageRoot = findRoot(dirname(fileURLToPath(import.meta.url)))
const manifest = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string; engines: { node: string } }
export const packageVersion = manifest.version
/** The Node.js versions the package supports (package.json `engines.node`, a semver range). */
export const supportedNode = manifest.engines.node

/**
 * The options `npm start` gives node itself (before the script in package.json's `start`). The systemd
 * units and the `waybill` wrapper repeat them (tests hold them together), the benchmark starts every
 * server with them; a `node dist/src/cli.js serve` started by hand runs without them unless given
 * (README Quick start).
 */
export const serviceNodeOptions: readonly string[] = nodeOptionsOf((manifest as { scripts?: { start?: string } }).scripts?.start ?? '')

/** `node --a --b=1 script args` → `['--a', '--b=1']`. */
export function nodeOptionsOf(command: string): string[] {
  const words = command.trim().split(/\s+/)
  if (words[0] !== 'node') return []
  const options: string[] = []
  for (const word of words.slice(1)) {
    if (!word.startsWith('--')) break
    options.push(word)
  }
  return options
}
