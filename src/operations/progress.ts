import cliProgress from 'cli-progress'

/**
 * Progress of long work on stderr (stdout carries data): a bar when stderr is a terminal, plain
 * "label: n/total" lines at most once a second otherwise (logs, CI, pipes).
 */
export interface Progress {
  update(done: number): void
  stop(done?: number): void
}

export function progress(label: string, total: number | undefined, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {percentage}% | {value}/{total} | {eta_formatted} left`, stream, hideCursor: true, etaBuffer: 50 },
      cliProgress.Presets.shades_classic,
    )
    bar.start(total ?? 0, 0)
    return { update: (done) => bar.update(done), stop: (done) => (done !== undefined && bar.update(done), bar.stop()) }
  }
  let last = 0
  let printed: number | undefined
  const line = (done: number) => {
    printed = done
    stream.write(`${label}: ${done}${total === undefined ? '' : `/${total}`}\n`)
  }
  return {
    update(done) {
      const now = Date.now()
      if (now - last < 1000) return
      last = now
      line(done)
    },
    stop(done) {
      // The final count, unless that very line was the last one printed.
      if (done !== undefined && done !== printed) line(done)
    },
  }
}
