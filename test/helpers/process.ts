import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/**
 * Runs the built CLI (`dist/src/cli.js`, made by `npm test`'s build step) as a real child process, so
 * tests can kill -9 it. Logs (JSON lines) are collected for `waitFor`.
 */
const compiled = import.meta.url.includes('/dist/test/')
export const cliPath = fileURLToPath(new URL(compiled ? '../../src/cli.js' : '../../dist/src/cli.js', import.meta.url))

export interface WaybillProcess {
  readonly pid: number
  readonly lines: string[]
  waitFor(pattern: RegExp, ms?: number): Promise<string>
  kill9(): Promise<void>
  stop(): Promise<number | null>
  readonly exited: Promise<number | null>
}

export function spawnWaybill(
  t: { teardown(fn: () => unknown): void },
  args: string[],
  env: Record<string, string>,
  script = cliPath,
): WaybillProcess {
  if (!existsSync(script)) throw new Error(`${script} is missing: run npm run build (npm test does)`)
  const child: ChildProcess = spawn(process.execPath, [script, ...args], {
    env: { ...process.env, WAYBILL_LOG_LEVEL: 'info', ...env },
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

/** Resolves once `GET /health` answers 200 (the process serves), or fails after `ms`. */
export async function untilHealthy(base: string, child: WaybillProcess, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await fetch(`${base}/health`).then((r) => r.ok, () => false)) return
    if (child.lines.length && (await Promise.race([child.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 50))]))) {
      throw new Error(`process exited before serving:\n${child.lines.slice(-10).join('\n')}`)
    }
  }
  throw new Error(`${base} did not become healthy:\n${child.lines.slice(-10).join('\n')}`)
}
