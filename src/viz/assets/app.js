// The process map page: the state chart drawn by the server, with live numbers on it.
//
// Data flow: GET /machines/shipment (structure) + GET /viz/chart.svg (drawing) once; GET /stats for
// the numbers, again at most once a second while events arrive on GET /events/stream; the side panel
// reads /shipments… on demand. Routes live in the URL fragment: `#/`, `#/state/<id>`,
// `#/shipment/<id>[/<version>]` (the token never does; see api.js).

import { ApiError, client, forgetToken, saveToken, takeToken } from './api.js'
import { applyStats, highlightPath, mountChart, selectState } from './chart.js'
import { h, toLocalInput } from './dom.js'
import { renderOverview, renderShipment, renderState, stateHash } from './views.js'

const byId = (id) => document.getElementById(id)
const minInterval = 1000

boot()

/** Signs in (fragment, session or form) and starts the map; a refused token returns to the form. */
function boot() {
  let stop = () => {}
  const signIn = (message) => {
    stop()
    forgetToken()
    delete document.body.dataset.signedIn
    byId('app').hidden = true
    const form = byId('sign-in')
    form.hidden = false
    byId('sign-in-message').textContent = message ?? ''
    form.elements.token.focus()
  }
  const run = (token) => {
    byId('sign-in').hidden = true
    byId('app').hidden = false
    document.body.dataset.signedIn = ''
    stop = start(token, signIn)
  }
  byId('sign-in').addEventListener('submit', (event) => {
    event.preventDefault()
    const field = event.target.elements.token
    const token = field.value.trim()
    field.value = ''
    if (!token) return
    saveToken(token)
    run(token)
  })
  byId('sign-out').addEventListener('click', () => signIn('Signed out.'))
  const token = takeToken()
  if (token) run(token)
  else signIn()
}

/** Runs the map for one token; returns a function that stops it (stream, timers, listeners). */
function start(token, signIn) {
  const api = client(token)
  const cleanup = new AbortController()
  const page = {
    chart: null,
    svg: null,
    stats: null,
    /** The panel's current view (see views.js) and a counter that drops answers to stale routes. */
    view: null,
    routeSerial: 0,
    statsSerial: 0,
    lastRefresh: 0,
    refreshTimer: null,
    pending: { stats: false, view: false },
    window: { kind: 'all', from: '', to: '' },
  }

  const fail = (error) => {
    if (error instanceof ApiError && error.unauthorized) return signIn(`The server refused the token (${error.status}): ${error.message}`)
    console.error(error)
    showError(error.message)
  }

  // --- the time window -------------------------------------------------------------------------
  const windowQuery = () => {
    const { kind, from, to } = page.window
    const params = new URLSearchParams()
    if (kind === 'hour') params.set('from', new Date(Date.now() - 3_600_000).toISOString())
    if (kind === 'today') {
      const midnight = new Date()
      midnight.setHours(0, 0, 0, 0)
      params.set('from', midnight.toISOString())
    }
    if (kind === 'custom') {
      if (from) params.set('from', new Date(from).toISOString())
      if (to) params.set('to', new Date(to).toISOString())
    }
    const query = params.toString()
    return query ? `?${query}` : ''
  }
  const windowLabel = () => {
    const { kind, from, to } = page.window
    if (kind === 'hour') return 'last hour'
    if (kind === 'today') return 'today'
    if (kind === 'custom') return `${from ? new Date(from).toLocaleString() : 'the beginning'} – ${to ? new Date(to).toLocaleString() : 'now'}`
    return 'all time'
  }
  const windowButtons = [...document.querySelectorAll('[data-window]')]
  const customForm = byId('custom-window')
  const showWindow = () => {
    for (const button of windowButtons) button.setAttribute('aria-pressed', String(button.dataset.window === page.window.kind))
    byId('window-label').textContent = windowLabel()
  }
  const chooseWindow = (kind) => {
    page.window.kind = kind
    showWindow()
    refreshStats().catch(fail)
  }
  showWindow()
  customForm.hidden = true
  for (const button of windowButtons) {
    button.addEventListener(
      'click',
      () => {
        if (button.dataset.window === 'custom') {
          customForm.hidden = !customForm.hidden
          if (!customForm.elements.from.value) customForm.elements.from.value = toLocalInput(new Date(Date.now() - 86_400_000))
          return
        }
        customForm.hidden = true
        chooseWindow(button.dataset.window)
      },
      { signal: cleanup.signal },
    )
  }
  customForm.addEventListener(
    'submit',
    (event) => {
      event.preventDefault()
      const from = customForm.elements.from.value
      const to = customForm.elements.to.value
      if (from && to && new Date(from) > new Date(to)) return showError('“From” is after “to”.')
      page.window = { kind: 'custom', from, to }
      chooseWindow('custom')
    },
    { signal: cleanup.signal },
  )

  // --- numbers ---------------------------------------------------------------------------------
  async function refreshStats() {
    if (!page.svg) return
    const serial = ++page.statsSerial
    page.lastRefresh = Date.now()
    const stats = await api.get(`/stats${windowQuery()}`)
    if (serial !== page.statsSerial || cleanup.signal.aborted) return
    applyStats(page.svg, page.chart, stats, page.stats)
    page.stats = stats
    page.view?.onStats?.(stats)
    byId('updated').textContent = `updated ${new Date(stats.generatedAt).toLocaleTimeString()}`
    byId('chart').dataset.statsAt = stats.generatedAt
  }

  /** Coalesces live changes: at most one /stats read (and panel refresh) per second. */
  function schedule(what) {
    page.pending = { stats: page.pending.stats || Boolean(what.stats), view: page.pending.view || Boolean(what.view) }
    if (page.refreshTimer !== null) return
    const wait = Math.max(0, page.lastRefresh + minInterval - Date.now())
    page.refreshTimer = setTimeout(() => {
      page.refreshTimer = null
      const { stats, view } = page.pending
      page.pending = { stats: false, view: false }
      if (stats) refreshStats().catch(fail)
      if (view) route().catch(fail)
    }, wait)
  }

  // --- the side panel --------------------------------------------------------------------------
  async function route() {
    if (!page.chart) return
    const serial = ++page.routeSerial
    const [, kind, rawId, rawVersion] = /^#\/(state|shipment)\/([^/]+)(?:\/(\d+))?$/.exec(location.hash) ?? []
    const id = rawId === undefined ? undefined : decodeURIComponent(rawId)
    const context = { api, chart: page.chart, stats: page.stats, windowLabel }
    const view =
      kind === 'state'
        ? await renderState(context, id)
        : kind === 'shipment'
          ? await renderShipment(context, id, rawVersion === undefined ? undefined : Number(rawVersion))
          : renderOverview(context)
    if (serial !== page.routeSerial || cleanup.signal.aborted) return
    page.view = view
    byId('panel').replaceChildren(view.element)
    selectState(page.svg, kind === 'state' ? id : null)
    highlightPath(page.svg, view.path ?? null)
  }
  window.addEventListener('hashchange', () => route().catch(fail), { signal: cleanup.signal })

  // --- downloads -------------------------------------------------------------------------------
  const download = async (path, extension) => {
    const blob = await api.blob(path)
    const url = URL.createObjectURL(blob)
    const anchor = h('a', { href: url, download: `${page.chart.id}-v${page.chart.version}.${extension}`, hidden: true })
    document.body.append(anchor)
    anchor.click()
    anchor.remove()
    setTimeout(() => URL.revokeObjectURL(url), 60_000)
  }
  byId('download-svg').addEventListener('click', () => download('/viz/chart.svg', 'svg').catch(fail), { signal: cleanup.signal })
  byId('download-mermaid').addEventListener('click', () => download('/viz/chart.mmd', 'mmd').catch(fail), { signal: cleanup.signal })

  // --- start -----------------------------------------------------------------------------------
  let stopFollowing = () => {}
  const live = byId('live')
  live.dataset.status = 'connecting'
  live.textContent = 'connecting…'
  ;(async () => {
    const [chart, svgText] = await Promise.all([api.get('/machines/shipment'), api.text('/viz/chart.svg', 'image/svg+xml')])
    if (cleanup.signal.aborted) return
    page.chart = chart
    byId('machine').textContent = `${chart.id} v${chart.version}`
    page.svg = mountChart(byId('chart'), svgText, chart, (stateId) => {
      location.hash = stateHash(stateId)
    })
    byId('chart').setAttribute('aria-busy', 'false')
    await Promise.all([refreshStats(), route()])
    if (cleanup.signal.aborted) return
    stopFollowing = api.follow({
      onEvent: (event) => {
        schedule({ stats: true, view: page.view?.onEvent?.(event) ?? false })
      },
      onStatus: (status) => {
        if (status === 'unauthorized') return signIn('The server refused the token for the live stream.')
        live.dataset.status = status
        live.textContent = status === 'live' ? 'live' : `${status}…`
        // Events may have been missed while reconnecting: read the numbers again once back.
        if (status === 'live') schedule({ stats: true })
      },
    })
  })().catch(fail)

  return () => {
    cleanup.abort()
    stopFollowing()
    if (page.refreshTimer !== null) clearTimeout(page.refreshTimer)
    byId('chart').replaceChildren()
    byId('panel').replaceChildren()
  }
}

function showError(message) {
  const banner = byId('error')
  banner.textContent = message
  banner.hidden = false
  setTimeout(() => {
    banner.hidden = true
  }, 8000)
}
