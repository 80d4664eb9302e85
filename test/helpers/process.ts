import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * Runs the built CLI (`dist/src/cli.js`, made by `npm test`'s build step) as a real child process, so
 * tests can kill -9 it. Logs (JSON lines) are collected for `waitFor`.
 */
const compiled = import.meta.url.includes('/dist/test/')
export const cliPath = fileURLToPath(new URL(compiled ? '../../src/cli.js' : '../../dist/src/cli.js', import.meta.url))

/**
 * The working directory of every CLI a test runs: an empty temporary directory. The CLI loads `./.env`
 * from its working directory, and a developer's `.env` in the checkout must not change what a test
 * runs (another database, faults injected, a bootstrap token).
 */
export const cliCwd = mkdtempSync(join(tmpdir(), 'waybill-cwd-'))
process.once('exit', () => rmSync(cliCwd, { recursive: true, force: true }))

/** A setting of the service (src/config.ts): names a developer's shell may export. */
const isSetting = (name: string) => name.startsWith('WAYBILL_') || name === 'PORT' || name === 'HOST' || name === 'REDIS_URL'

/**
 * The environment of a CLI a test runs: this process's without any Waybill setting (a developer's
 * shell exporting `WAYBILL_DATA_DIR` or `WAYBILL_FAULTS` must not reach the process under test), then
 * the test's own `env`.
 */
export function cliEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !isSetting(name)))
  return { ...inherited, ...env }
}

/** Runs the built CLI to its end in `cliCwd` with `cliEnv(env)`; never throws: the exit code and both outputs. */
export function runWaybill(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath, ...args], { cwd: cliCwd, env: cliEnv({ WAYBILL_LOG_LEVEL: 'silent', ...env }), maxBuffer: 64 * 2 ** 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

export interface WaybillProcess {
  readonly pid: number
  readonly lines: string[]
  waitFor(pattern: RegExp, ms?: number): Promise<string>
  kill9(): Promise<void>
  stop(): Promise<number | null>
  readonly exited: Promise<number | null>
}

/**
 * Load shedding on event-loop delay is for production: a process's own start-up on a loaded test
 * machine blocks its loop past the 1 s default, and it would shed the first requests. Tests of
 * shedding set their own limit; the benchmark sets it to '' (the service's own default).
 */
const calm = { WAYBILL_LOG_LEVEL: 'info', WAYBILL_MAX_EVENT_LOOP_DELAY_MS: '60000' }

/** A variable set to '' is left unset. */
const withoutEmpty = (env: Record<string, string | undefined>) => Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''))

export function spawnWaybill(
  t: { teardown(fn: () => unknown): void },
  args: string[],
  env: Record<string, string>,
  script = cliPath,
  /** Options for node itself (e.g. `--cpu-prof`, which NODE_OPTIONS does not take). */
  nodeArgs: readonly string[] = [],
): WaybillProcess {
  if (!existsSync(script)) throw new Error(`${script} is missing: run npm run build (npm test does)`)
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, script, ...args], {
    cwd: cliCwd,
    env: withoutEmpty(cliEnv({ ...calm, ...env })),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: string[] = []
  const waiters = new Set<() => void>()
  const onData = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean))
    for (const waiter of [...waiters]) waiter()
  }
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const kill9 = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  }
  t.teardown(kill9)
  return {
    pid: child.pid!,
    lines,
    exited,
    waitFor(pattern, ms = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = lines.find((l) => pattern.test(l))
          if (line) {
            waiters.delete(check)
            clearTimeout(timer)
            resolve(line)
          }
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no line matching ${pattern} within ${ms} ms; output:\n${lines.slice(-20).join('\n')}`))
        }, ms)
        waiters.add(check)
        check()
        void exited.then(() => {
          if (waiters.has(check)) {
            waiters.delete(check)
            clearTimeout(timer)
            reject(new Error(`process exited before ${pattern}; output:\n${lines.slice(-20).join('\n')}`))
          }
        })
      })
    },
    kill9,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      return exited
    },
  }
}

/** Resolves once `GET /health` answers 200 (the process serves), or fails after `ms` (generous: a start-up on a loaded 2-core machine takes tens of seconds). */
export async function untilHealthy(base: string, child: WaybillProcess, ms = 90_000): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await fetch(`${base}/health`).then((r) => r.ok, () => false)) return
    if (child.lines.length && (await Promise.race([child.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 50))]))) {
      throw new Error(`process exited before serving:\n${child.lines.slice(-10).join('\n')}`)
    }
  }
  throw new Error(`${base} did not become healthy:\n${child.lines.slice(-10).join('\n')}`)
}
