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
