import t from 'tap'
import { messageTypes } from '../../machines/kinds.js'
import { rejectionReasons, shipmentChart } from '../../machines/shipment/index.js'
import { truckChart, truckRejectionReasons } from '../../machines/truck/index.js'
import { explanation, firstSentence, legend, machineWords, reasonWords, transitionLabel } from '../../src/viz/glossary.js'

// Issue 15, item 6: the page speaks in the machines' own words, never in code names.

t.test('every transition of both machines has words: a short label (first sentence) and an explanation', async (t) => {
  for (const chart of [shipmentChart, truckChart]) {
    const labels = new Set<string>()
    for (const transition of chart.transitions) {
      t.ok(transition.description, `${chart.id} ${transition.id} has a description`)
      const label = transitionLabel(transition)
      t.ok(label.length > 0 && label.length <= 30, `${transition.id}: “${label}” fits on an arrow`)
      t.notMatch(label, /[A-Z]{3,}|_|\[/, `${transition.id}: “${label}” is not a code name`)
      t.ok(explanation(transition.description).length > 0, `${transition.id} explains itself beyond its label`)
      // Two arrows from the same state never say the same thing.
      t.notOk(labels.has(`${transition.from}:${label}`), `${transition.id}: a label of its own`)
      labels.add(`${transition.from}:${label}`)
    }
  }
})

t.test('labels come from the descriptions: first sentence, the rest is the explanation', async (t) => {
  t.equal(firstSentence('Reassign. Moved to another truck (a scan naming it is refused).'), 'Reassign')
  t.equal(explanation('Reassign. Moved to another truck (a scan naming it is refused).'), 'Moved to another truck (a scan naming it is refused).')
  t.equal(firstSentence('Open at a dock'), 'Open at a dock', 'a description without a full stop is all label')
  t.equal(explanation('Open at a dock'), '')
  t.equal(firstSentence('Ship v1.2 now. Then more.'), 'Ship v1.2 now', 'a full stop inside a word does not end the sentence')
  t.equal(transitionLabel({ description: null, command: 'DEPART_SHIP' }), 'Depart ship', 'without a description, the command in sentence case')
})

t.test('every refusal reason and every command has words', async (t) => {
  for (const reason of [...rejectionReasons, ...truckRejectionReasons, 'discarded'] as const) {
    t.ok(reasonWords[reason] && !/_/.test(reasonWords[reason]), `${reason}: “${reasonWords[reason]}”`)
  }
  const shipments = machineWords(shipmentChart)
  const trucks = machineWords(truckChart)
  for (const command of [...shipmentChart.commands, 'DEPART_SHIP']) t.ok(shipments.commands[command] && !/^[A-Z_]+$/.test(shipments.commands[command]!), `shipment ${command}: ${shipments.commands[command]}`)
  for (const command of truckChart.transitions.map((tr) => tr.command)) t.ok(trucks.commands[command], `truck ${command}: ${trucks.commands[command]}`)
  for (const message of ['TRUCK_REPLY', 'DEPART_NOW'] as const) t.ok(messageTypes.includes(message) && shipments.commands[message], `${message} has words too`)
  t.equal(shipments.commands.ASSIGN, 'Assign to a truck', 'a command reads as its first arrow')
  t.equal(shipments.states.unregistered!.label, 'new', 'a state reads as its label')
})

t.test('the legend explains every mark the charts use, the stuck border with its threshold', async (t) => {
  const marks = legend('4 h').map((e) => e.mark)
  t.same(marks.sort(), ['badge', 'count', 'dwell', 'final', 'idle', 'initial', 'internal', 'stuck', 'traffic'])
  t.match(legend('4 h').find((e) => e.mark === 'stuck')!.text, /Dashed orange border.*more than 4 h/)
})
