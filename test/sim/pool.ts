import { Worker } from 'node:worker_threads'
import type { Control } from './run.js'
import type { SeedReport } from './summary.js'

/**
 * Worker threads that run seeds (worker.ts), one seed at a time each: `npm run sim -- --jobs N` and
 * the tap test use them to run seeds on every core. Under tap the worker is the TypeScript file,
 * started through worker-tsx.mjs (which registers the test runner's loader in the thread); built, it
 * is worker.js.
 */
export interface SeedPool {
  run(seed: number, control?: Control): Promise<SeedReport>
  close(): Promise<void>
}

const workerUrl = new URL(import.meta.url.endsWith('.ts') ? './worker-tsx.mjs' : './worker.js', import.meta.url)

export function seedPool(jobs: number): SeedPool {
  const idle: Worker[] = Array.from({ length: Math.max(1, jobs) }, () => new Worker(workerUrl))
  const all = [...idle]
  const queue: Array<(worker: Worker) => void> = []
  const acquire = () => new Promise<Worker>((resolve) => (idle.length > 0 ? resolve(idle.pop()!) : queue.push(resolve)))
  const release = (worker: Worker) => (queue.length > 0 ? queue.shift()!(worker) : idle.push(worker))
  return {
    async run(seed, control) {
      const worker = await acquire()
      try {
        const report = await new Promise<SeedReport | { seed: number; error: string }>((resolve, reject) => {
          const done = (message: SeedReport | { seed: number; error: string }) => (worker.off('error', fail), resolve(message))
          const fail = (error: Error) => (worker.off('message', done), reject(error))
          worker.once('message', done)
          worker.once('error', fail)
          worker.postMessage({ seed, control })
        })
        if ('error' in report) throw new Error(`seed ${report.seed}: ${report.error}`)
        return report
      } finally {
        release(worker)
      }
    },
    async close() {
      await Promise.all(all.map((w) => w.terminate()))
    },
  }
}
