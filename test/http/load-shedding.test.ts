import t from 'tap'
import { isMeasuredPressure } from '../../src/http/app.js'

// under-pressure turns an interval without a loop sample into Infinity: not a measurement to shed on.
t.test('an unmeasured event-loop delay sheds nothing; a measured one does', async (t) => {
  t.notOk(isMeasuredPressure('eventLoopDelay', Infinity), 'Infinity (no sample in the interval)')
  t.notOk(isMeasuredPressure('eventLoopDelay', Number.NaN), 'NaN')
  t.ok(isMeasuredPressure('eventLoopDelay', 1500), 'a measured delay over the limit')
  t.ok(isMeasuredPressure('heapUsedBytes', 1e9), 'other pressure types pass through')
})
