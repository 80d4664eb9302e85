import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import t from 'tap'
import { startCluster } from '../helpers/cluster.js'
import { bootstrapToken, eventually, http } from '../helpers/service.js'
import { openStream } from '../helpers/sse.js'

// The event stream over real connections to a real `waybill serve`: it stays open through long
// silences (a heartbeat every 2.5 s: at least every 5 s as promised, well inside the server's idle
// timeout, 10 s by default), the process map page stays "live" all along, and a catch-up of a long
// log by many readers leaves the process responsive.
const calm = { WAYBILL_MAX_EVENT_LOOP_DELAY_MS: '60000' }
const executablePath = '/usr/bin/chromium'
const holdMs = 35_000

t.test('a stream stays open through 35 s of silence, and so does the process map', async (t) => {
  const cluster = await startCluster(t, calm)
  await cluster.serve()
  const stream = openStream(cluster.base)
  t.equal((await stream.response).status, 200)
  await eventually(() => (stream.messages.some((m) => m.event === 'ready') ? true : undefined), 10_000, 'ready')

  // The page, if Chromium is installed: every change of its live indicator is recorded.
  let statuses: () => Promise<string[]> = async () => []
  if (existsSync(executablePath)) {
    const { chromium } = await import('playwright-core')
    const browser = await chromium.launch({ executablePath, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] })
    t.teardown(() => browser.close())
    const page = await browser.newPage()
    const interruptions: string[] = []
    page.on('console', (message) => {
      if (/event stream interrupted/.test(message.text())) interruptions.push(message.text())
    })
    await page.goto(`${cluster.base}/viz#token=${bootstrapToken}`)
    await page.locator('#live[data-status="live"]').waitFor({ timeout: 20_000 })
    await page.evaluate(`(() => {
      const live = document.getElementById('live')
      window.seenStatuses = []
      new MutationObserver(() => window.seenStatuses.push(live.dataset.status)).observe(live, { attributes: true, attributeFilter: ['data-status'] })
    })()`)
    statuses = async () => [...((await page.evaluate('window.seenStatuses')) as string[]), ...interruptions]
  } else {
    t.comment(`${executablePath} is not installed: the page part did not run`)
  }

  const end = await Promise.race([stream.ended, new Promise<null>((resolve) => setTimeout(() => resolve(null), holdMs))])
  t.equal(end, null, `the stream is still open after ${holdMs} ms of silence`)
  t.ok(stream.heartbeats >= 10, `${stream.heartbeats} heartbeats`)
  t.ok(stream.longestSilence() < 5000, `the longest silence was ${stream.longestSilence()} ms (idle timeout 10 s)`)
  t.equal((await http(cluster.base, 'POST', '/shipments/QUIET-1/commands', { type: 'REGISTER' })).status, 201)
  await eventually(() => (stream.messages.some((m) => m.data?.shipmentId === 'QUIET-1') ? true : undefined), 10_000, 'the event after the silence')
  t.pass('an event after the silence arrives on the same stream')
  t.same(await statuses(), [], 'the page never left "live" (no reconnect)')
  stream.close()
})

t.test('catching up from 0 on a 50,000-event log: 20 readers, the process stays responsive', async (t) => {
  const cluster = await startCluster(t, { ...calm, WAYBILL_MAX_STREAMS_PER_TOKEN: '20' })
  const total = 50_000
  const storage = await cluster.storage()
  const now = Date.now()
  // One write transaction: each stream's first event, applied to the read models as it is appended.
  await storage.store.importEvents(
    Array.from({ length: total }, (_, i) => {
      const metadata = { commandId: randomUUID(), deviceId: 'seed', operatorId: 'op-1', receivedAt: new Date(now).toISOString(), machineVersion: '1', fromState: 'unregistered' }
      return { streamId: `CU-${i}`, version: 1, type: 'ShipmentRegistered', data: { origin: 'Depot A', destination: 'Lyon' }, metadata, recordedAt: now }
    }),
    [],
  )
  await cluster.serve()

  const readers = Array.from({ length: 20 }, () => openStream(cluster.base, { query: '?after=0', parse: false }))
  const done = () => readers.every((r) => r.messages.length >= total + 1)
  let broken = false
  void Promise.race(readers.map((r) => r.ended)).then(() => (broken = true))
  // /health is probed from another process: this one is busy reading the 20 streams, and its own
  // event loop must not count as the server's.
  const probe = spawn(
    process.execPath,
    [
      '-e',
      `setInterval(async () => { const before = Date.now(); const res = await fetch(process.argv[1] + '/health'); await res.text(); console.log(res.status + ' ' + (Date.now() - before)) }, 50)`,
      cluster.base,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  t.teardown(() => {
    if (probe.exitCode === null) probe.kill()
  })
  const answers: Array<{ status: number; ms: number }> = []
  probe.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    for (const line of chunk.split('\n').filter(Boolean)) {
      const [status, ms] = line.split(' ').map(Number)
      answers.push({ status: status!, ms: ms! })
    }
  })
  await eventually(() => (done() || broken ? true : undefined), 240_000, 'the readers to catch up')
  probe.kill()
  t.same((await Promise.all(readers.map((r) => r.response))).map((r) => r.status), Array(20).fill(200), 'every reader was let in')
  t.notOk(broken, 'no stream ended during the catch-up')
  t.same(answers.filter((a) => a.status !== 200), [], '/health always answered 200')
  const latencies = answers.map((a) => a.ms)
  const worst = Math.max(...latencies)
  const sorted = [...latencies].sort((a, b) => a - b)
  t.comment(`/health during the catch-up: ${latencies.length} answers, median ${sorted[Math.floor(sorted.length / 2)]} ms, worst ${worst} ms`)
  t.ok(latencies.length >= 5, `/health kept answering during the catch-up (${latencies.length} times)`)
  t.ok(worst < 5000, `no /health answer waited long (worst ${worst} ms; an unbounded catch-up holds it ~20 s)`)
  for (const [i, reader] of readers.entries()) {
    const ids = reader.messages.slice(1).map((m) => Number(m.id))
    const inOrder = ids.length === total && ids.every((id, k) => id === k + 1)
    t.ok(inOrder, `reader ${i}: all ${total} events, each once, in order`)
    reader.close()
  }
})
