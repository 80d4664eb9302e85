import { parentPort } from 'node:worker_threads'
import { runSeed, type Control } from './run.js'
import { reportOf } from './summary.js'

/** A worker thread of `npm run sim -- --jobs N`: runs the seeds it is sent, one at a time. */
parentPort!.on('message', (task: { seed: number; control?: Control }) => {
  void (async () => {
    // This thread's CPU where Node tells it apart (22.19+/23.9+), else the process's.
    const usage = (process as { threadCpuUsage?: (previous?: NodeJS.CpuUsage) => NodeJS.CpuUsage }).threadCpuUsage?.bind(process) ?? process.cpuUsage.bind(process)
    const cpu = usage()
    const result = await runSeed(task.seed, task.control ? { control: task.control } : {})
    const used = usage(cpu)
    parentPort!.postMessage(reportOf(result, (used.user + used.system) / 1000))
  })().catch((error: unknown) => parentPort!.postMessage({ seed: task.seed, error: String((error as Error)?.stack ?? error) }))
})
