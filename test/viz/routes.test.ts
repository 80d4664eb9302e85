import t from 'tap'
import { shipmentChart } from '../../machines/shipment/index.js'
import { truckChart } from '../../machines/truck/index.js'
import { machineWords } from '../../src/viz/glossary.js'
import { layoutChart } from '../../src/viz/layout.js'
import { renderMermaid } from '../../src/viz/mermaid.js'
import { renderSvg } from '../../src/viz/svg.js'
import { startTestService } from '../helpers/service.js'

// The page and its assets are public (no data in them); the chart's layout, SVG and Mermaid text
// are for reviewers and admins.

t.test('the viz routes', async (t) => {
  const api = await startTestService(t)
  const mint = async (role: string) => (await api.request('POST', '/admin/tokens', { deviceId: `viz-${role}`, role })).body.token as string
  const tokens = { scanner: await mint('scanner'), reviewer: await mint('reviewer') }
  const as = (who: 'none' | keyof typeof tokens, url: string) =>
    api.request('GET', url, undefined, { authorization: who === 'none' ? '' : `Bearer ${tokens[who]}` })

  t.test('GET /viz: the page shell, public, same-origin only', async (t) => {
    const res = await as('none', '/viz')
    t.equal(res.status, 200)
    t.match(res.headers['content-type'], /^text\/html/)
    t.match(res.body, '<script type="module" src="/viz/assets/app.js"></script>')
    t.match(res.headers['content-security-policy'], /default-src 'self'/)
    t.notMatch(res.body, /https?:\/\//, 'the page names no other origin')
  })

  t.test('the assets are public and typed; unknown ones are a problem+json 404', async (t) => {
    for (const [file, type] of [
      ['app.js', /javascript/],
      ['api.js', /javascript/],
      ['app.css', /text\/css/],
      ['icon.svg', /image\/svg\+xml/],
    ] as const) {
      const res = await as('none', `/viz/assets/${file}`)
      t.equal(res.status, 200, file)
      t.match(res.headers['content-type'], type, `${file} is ${type}`)
    }
    const missing = await as('none', '/viz/assets/nope.js')
    t.equal(missing.status, 404)
    t.match(missing.headers['content-type'], /problem\+json/)
    t.equal((await as('none', '/viz/assets/../routes.ts')).status, 404, 'nothing outside the assets')
    t.equal((await as('none', '/viz/assets/index.html')).status, 404, 'the page only as /viz, with its policy')
  })

  t.test('layout, SVG and Mermaid: the chart drawn, for reviewers', async (t) => {
    const layout = await layoutChart(shipmentChart)
    const expected = {
      '/viz/layout.json': { type: /application\/json/, body: JSON.parse(JSON.stringify(layout)) },
      '/viz/chart.svg': { type: /^image\/svg\+xml/, body: renderSvg(shipmentChart, layout) },
      '/viz/chart.mmd': { type: /^text\/plain/, body: renderMermaid(shipmentChart) },
    }
    for (const [url, { type, body }] of Object.entries(expected)) {
      t.equal((await as('none', url)).status, 401, `${url} without a token`)
      t.equal((await as('scanner', url)).status, 403, `${url} as a scanner`)
      const res = await as('reviewer', url)
      t.equal(res.status, 200, `${url} as a reviewer`)
      t.match(res.headers['content-type'], type)
      t.same(res.body, body, `${url} is the chart drawn`)
      t.same((await api.request('GET', url)).body, body, `${url} as an admin, the same again (cached)`)
    }
    t.match((await as('reviewer', '/viz/chart.svg')).headers['content-disposition'], `filename="${shipmentChart.id}-v${shipmentChart.version}.svg"`)
  })

  t.test('the truck chart too (`?machine=truck`), and the words the page shows', async (t) => {
    const layout = await layoutChart(truckChart)
    t.same((await as('reviewer', '/viz/layout.json?machine=truck')).body, JSON.parse(JSON.stringify(layout)))
    t.same((await as('reviewer', '/viz/chart.svg?machine=truck')).body, renderSvg(truckChart, layout))
    t.same((await as('reviewer', '/viz/chart.mmd?machine=truck')).body, renderMermaid(truckChart))
    t.match((await as('reviewer', '/viz/chart.svg?machine=truck')).headers['content-disposition'], `filename="${truckChart.id}-v${truckChart.version}.svg"`)
    const words = (await as('reviewer', '/viz/glossary.json')).body
    t.same(words.machines.truck, JSON.parse(JSON.stringify(machineWords(truckChart))))
    t.same(words.machines.shipment, JSON.parse(JSON.stringify(machineWords(shipmentChart))))
    t.equal(words.reasons.invalid_transition, 'not allowed in this state')
    t.equal(words.truckReasons.not_found, 'the truck was never opened')
    t.equal(words.legend.length, 9)
    t.equal((await as('scanner', '/viz/glossary.json')).status, 403)
  })
})
