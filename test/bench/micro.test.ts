import t from 'tap'
import { tempDir } from '../helpers/service.js'
import { DecisionCeiling, micro } from './micro.js'

// `npm run bench` is not part of the suite; its in-process section runs here small, so a change of
// the store's or the drain loop's API cannot leave the bench broken until someone runs it.
t.test('the micro-benchmarks run and measure every row', async (t) => {
  const lines = await micro(tempDir(t, 'waybill-micro-test-'), { churn: 200, walks: 50 })
  const rows = lines.slice(2).map((line) => line.split('|').map((cell) => cell.trim()).filter(Boolean))
  t.same(rows.map(([name]) => name!.replace(/(?<!I)\d+(?:[.,]\d+)*/g, 'N')), [
    'machine: XState `transition()` per event',
    'machine: `step` (reused inert scope) per event',
    'decide + append, one shipment, in process',
    'hydration, hot (actor cache)',
    'hydration, cold from snapshot (vN) + tail, N events',
    'hydration, cold by replay (no checkpoint of this machine version)',
    'decide + append, N shipments × N, N commands per cycle, in process',
    'decide + append, N shipments × N, N commands per cycle, in process',
    'decide + append, N shipments × N, N commands per cycle, in process',
    'projection rebuild, N events',
    'verify (I2 + I5), N events, N problems',
  ])
  // Every row measured something: a finite number (a hot cache hit may round to 0.00 µs), and every
  // rate above zero.
  for (const [name, value] of rows) {
    const measured = Number.parseFloat(value!.replace(/,/g, ''))
    t.ok(Number.isFinite(measured) && measured >= 0, `${name}: ${value}`)
    if (/\/s/.test(value!)) t.ok(measured > 0, `${name}: a rate above zero`)
  }
  t.match(lines.at(-1), /verify \(I2 \+ I5\), 801 events, 0 problems/, 'the log holds every event walked, and verify finds nothing wrong')
})

t.test('the decision path alone decides for the time given, at the cycle size given', async (t) => {
  const ceiling = await DecisionCeiling.open(tempDir(t, 'waybill-ceiling-test-'))
  t.teardown(() => ceiling.close())
  const { rps, cpuMsPerCommand } = await ceiling.run(10, { seconds: 0.2 })
  t.ok(Number.isFinite(rps) && rps > 0, `${Math.round(rps)} commands/s`)
  t.ok(Number.isFinite(cpuMsPerCommand) && cpuMsPerCommand > 0, `${cpuMsPerCommand.toFixed(3)} ms of CPU per command`)
})
