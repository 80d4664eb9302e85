import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

// The folders read as the data flow, and the arrows point one way. Each layer may import only the
// layers listed for it (and itself); a new arrow is a design decision made here, on purpose.
//
//   machines/          pure statecharts: xstate and their own files only
//   store/             the storage port and its adapters: knows no aggregate, no projection's tables
//   projections/       read models, reports, the feed (the read side): never the decision side
//   queue/             Redis: wake-ups, leases, replies channel; knows no aggregate
//   commands/          intake, group commit, replies, command schemas
//   decisions/         the decision cycle, drain loop, ownership, quarantine, kinds' handlers
//   viz/               the process map's rendering (layout, SVG, Mermaid)
//   http/              routes, auth, problems, OpenAPI (and the process map's routes)
//   operations/        CLI operations: backup, verify, replay, import/export, doctor
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

const allowed: Record<string, readonly string[]> = {
  machines: [],
  config: [],
  faults: [],
  'package-info': [],
  store: [],
  projections: ['machines', 'store', 'faults'],
  queue: [],
  auth: ['store'],
  commands: ['machines', 'store', 'projections', 'queue', 'faults'],
  decisions: ['machines', 'store', 'projections', 'queue', 'commands', 'faults'],
  metrics: ['projections', 'store'],
  storage: ['auth', 'projections', 'store', 'config'],
  viz: ['machines'],
  http: ['machines', 'store', 'projections', 'commands', 'auth', 'viz', 'faults', 'metrics', 'config'],
  operations: ['machines', 'store', 'projections', 'queue', 'commands', 'config', 'package-info', 'storage'],
  service: ['*'],
  cli: ['*'],
}

/** The layer of a file: its folder under src/ (or machines/), or a top-level module's own name. */
export function layerOf(file: string): string {
  const path = relative(root, file)
  if (path.startsWith('machines/')) return 'machines'
  const [, first, second] = path.split('/')
  return second === undefined ? first!.replace(/\.ts$/, '') : first!
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return name === 'assets' ? [] : files(path)
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : []
  })
}

/** Relative imports (static, dynamic and type-only) of a file, resolved to .ts paths. */
function importsOf(file: string): Array<{ specifier: string; target: string }> {
  const text = readFileSync(file, 'utf8')
  const found = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"]+)['"]/g)].map((m) => m[1]!)
  return found.filter((s) => s.startsWith('.')).map((specifier) => ({ specifier, target: resolve(dirname(file), specifier).replace(/\.js$/, '.ts') }))
}

/** Packages a pure machine may import. */
const machinePackages = new Set(['xstate'])

export function violations(edges: ReadonlyArray<{ from: string; to: string; file: string; specifier: string }>): string[] {
  const found: string[] = []
  for (const { from, to, file, specifier } of edges) {
    if (from === to) continue
    const may = allowed[from]
    if (!may) found.push(`${relative(root, file)}: layer ${from} is not in the architecture table`)
    else if (!may.includes('*') && !may.includes(to)) found.push(`${relative(root, file)}: ${from} → ${to} (${specifier}) is not an allowed arrow`)
  }
  return found
}

const sources = [...files(join(root, 'src')), ...files(join(root, 'machines'))]
const edges = sources.flatMap((file) => importsOf(file).map(({ specifier, target }) => ({ from: layerOf(file), to: layerOf(target), file, specifier })))

t.test('every import follows the arrows of the layer table', async (t) => {
  t.ok(edges.length > 100, `${edges.length} imports checked`)
  t.same(violations(edges), [])
})

t.test('the layers form no cycle', async (t) => {
  const graph = new Map<string, Set<string>>()
  for (const { from, to } of edges) if (from !== to) graph.set(from, (graph.get(from) ?? new Set()).add(to))
  const cycles: string[] = []
  const visit = (node: string, path: string[]) => {
    if (path.includes(node)) return void cycles.push([...path.slice(path.indexOf(node)), node].join(' → '))
    for (const next of graph.get(node) ?? []) visit(next, [...path, node])
  }
  for (const node of graph.keys()) visit(node, [])
  t.same(cycles, [])
})

t.test('machines/ is pure: it imports xstate and its own files only', async (t) => {
  const outside: string[] = []
  for (const file of files(join(root, 'machines'))) {
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)['"]([^'"]+)['"]/g)) {
      const specifier = m[1]!
      if (specifier.startsWith('.') ? layerOf(resolve(dirname(file), specifier)) !== 'machines' : !machinePackages.has(specifier)) outside.push(`${relative(root, file)}: ${specifier}`)
    }
    for (const banned of ['Date.now', 'new Date(', 'Math.random', 'setTimeout', 'fromPromise', 'invoke:', 'after:']) {
      if (text.includes(banned)) outside.push(`${relative(root, file)}: uses ${banned}`)
    }
  }
  t.same(outside, [])
})

t.test('negative control: the checker names a forbidden arrow and a stray layer', async (t) => {
  const file = join(root, 'src/store/sqlite/store.ts')
  t.same(violations([{ from: 'store', to: 'decisions', file, specifier: '../../decisions/cycle.js' }]), [
    'src/store/sqlite/store.ts: store → decisions (../../decisions/cycle.js) is not an allowed arrow',
  ])
  t.same(violations([{ from: 'projections', to: 'decisions', file, specifier: 'x' }]).length, 1, 'the read side never imports the decision side')
  t.match(violations([{ from: 'nowhere', to: 'store', file, specifier: 'x' }]), [/not in the architecture table/])
})
