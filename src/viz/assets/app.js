// @ts-check
// The process map page: the shipment and truck charts drawn by the server, with live numbers on them,
// and a side panel where every number opens what is behind it.
//
// Data flow: GET /viz/glossary.json (words) and GET /viz/chart.svg?machine=… (drawings) once; GET
// /viz/numbers.json for the charts' numbers, again at most once a second while events arrive on GET
// /events/stream; the panel reads /review/… and /shipments/… for its view. Places live in the URL
// fragment (logic.js `Route`); the window is chosen in the bar, "Today" unless the reader picks another.
// Signed in by a session cookie (api.js): `#token=…` in the address, or the form, signs in.

import { ApiError, currentSession, follow, getBlob, getJson, getText, signIn, signOut } from './api.js'
import { applyNumbers, highlightPath, mountChart, selectState } from './chart.js'
import { save, toLocalInput } from './dom.js'
import { parseRoute, takeTokenFrom, windowParams, windowProblem, windowRange } from './logic.js'
import {
  refusedText,
  renderCompare,
  renderDestination,
  renderDestinations,
  renderOverview,
  renderRejections,
  renderReport,
  renderShipment,
  renderState,
  renderStuck,
  renderTruck,
  renderTrucks,
  renderWho,
  renderWhoDetail,
} from './views.js'

/**
 * @typedef {import('../../http/schemas.js').GlossaryResponse} Glossary
 * @typedef {import('../../http/schemas.js').ChartNumbersResponse} Numbers
 * @typedef {import('./views.js').View} View
 * @typedef {import('./logic.js').WindowChoice} WindowChoice
 * @typedef {import('./logic.js').WindowKind} WindowKind
 */

/** @param {string} id */
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id))
const minInterval = 1000

boot()

/** Why a sign-in failed, in words. @param {unknown} error */
function refusal(error) {
  if (error instanceof ApiError && error.status === 401) return 'The server does not know this token, or it was revoked.'
  if (error instanceof ApiError && error.status === 403) return error.message
  return error instanceof Error ? error.message : String(error)
}

/** Signs in (address, session or form) and starts the map; a session that ends returns to the form. */
function boot() {
  let stop = () => {}
  const form = /** @type {HTMLFormElement} */ (byId('sign-in'))
  const field = /** @type {HTMLInputElement} */ (form.elements.namedItem('token'))
  /** @param {string} [message] */
  const showSignIn = (message) => {
    stop()
    stop = () => {}
    delete document.body.dataset.signedIn
    byId('app').hidden = true
    form.hidden = false
    byId('sign-in-message').textContent = message ?? ''
    field.focus()
  }
  const run = () => {
    form.hidden = true
    byId('app').hidden = false
    document.body.dataset.signedIn = ''
    stop()
    stop = start(showSignIn)
  }
  /** @param {string} token */
  const signInWith = async (token) => {
    try {
      await signIn(token)
      run()
    } catch (error) {
      showSignIn(refusal(error))
    }
  }
  /** Takes `#token=…` out of the address (it never stays there) and signs in with it. */
  const tokenFromAddress = () => {
    const { token, rest } = takeTokenFrom(location.hash)
    if (token === null) return false
    history.replaceState(null, '', location.pathname + location.search + rest)
    void signInWith(token)
    return true
  }
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const token = field.value.trim()
    field.value = ''
    if (token) void signInWith(token)
  })
  byId('sign-out').addEventListener('click', async () => {
    stop()
    await signOut().catch(() => {})
    showSignIn('Signed out.')
  })
  // A token added to the address of an open page signs in with it (replacing the session).
  window.addEventListener('hashchange', () => void tokenFromAddress())
  if (!tokenFromAddress()) {
    currentSession().then(
      (session) => (session ? run() : showSignIn()),
      (error) => showSignIn(refusal(error)),
    )
  }
}

/**
 * Runs the map; returns a function that stops it (stream, timers, listeners).
 * @param {(message?: string) => void} signedOut
 */
function start(signedOut) {
  const cleanup = new AbortController()
  const { signal } = cleanup
  /** @type {{ words: Glossary | null, svgs: { shipment: SVGSVGElement | null, truck: SVGSVGElement | null }, numbers: Numbers | null, view: View | null, routeSerial: number, numbersSerial: number, lastRefresh: number, refreshTimer: ReturnType<typeof setTimeout> | null, pending: { numbers: boolean, view: boolean }, choice: WindowChoice }} */
  const page = {
    words: null,
    svgs: { shipment: null, truck: null },
    numbers: null,
    view: null,
    routeSerial: 0,
    numbersSerial: 0,
    lastRefresh: 0,
    refreshTimer: null,
    pending: { numbers: false, view: false },
    choice: { kind: 'today' },
  }

  /** @param {unknown} error */
  const fail = (error) => {
    if (signal.aborted) return
    if (error instanceof ApiError && error.signedOut) return signedOut(`Your session has ended: ${error.message}`)
    console.error(error)
    showError(error instanceof Error ? error.message : String(error))
  }

  // --- the time window -------------------------------------------------------------------------
  const range = () => windowRange(page.choice, new Date())
  /** The window (and `extra`) as a query string. @param {Record<string, string>} [extra] */
  const query = (extra = {}) => {
    const params = windowParams(range())
    for (const [key, value] of Object.entries(extra)) params.set(key, value)
    const text = params.toString()
    return text ? `?${text}` : ''
  }
  const windowButtons = /** @type {HTMLButtonElement[]} */ ([...document.querySelectorAll('[data-window]')])
  const customForm = /** @type {HTMLFormElement} */ (byId('custom-window'))
  const customInput = (/** @type {string} */ name) => /** @type {HTMLInputElement} */ (customForm.elements.namedItem(name))
  const showWindow = () => {
    for (const button of windowButtons) button.setAttribute('aria-pressed', String(button.dataset.window === page.choice.kind))
    byId('window-label').textContent = range().label
  }
  const chooseWindow = (/** @type {WindowChoice} */ choice) => {
    page.choice = choice
    showWindow()
    refreshNumbers().catch(fail)
    route().catch(fail)
  }
  showWindow()
  customForm.hidden = true
  for (const button of windowButtons) {
    button.addEventListener(
      'click',
      () => {
        const kind = /** @type {WindowKind} */ (button.dataset.window)
        if (kind === 'custom') {
          customForm.hidden = !customForm.hidden
          if (!customInput('from').value) customInput('from').value = toLocalInput(new Date(Date.now() - 86_400_000))
          return
        }
        customForm.hidden = true
        chooseWindow({ kind })
      },
      { signal },
    )
  }
  customForm.addEventListener(
    'submit',
    (event) => {
      event.preventDefault()
      const choice = /** @type {WindowChoice} */ ({ kind: 'custom', from: customInput('from').value, to: customInput('to').value })
      const problem = windowProblem(windowRange(choice, new Date()), Date.now())
      if (problem) return showError(problem)
      chooseWindow(choice)
    },
    { signal },
  )

  // --- numbers ---------------------------------------------------------------------------------
  async function refreshNumbers() {
    const { words, svgs } = page
    if (!words || !svgs.shipment || !svgs.truck) return
    const serial = ++page.numbersSerial
    page.lastRefresh = Date.now()
    const numbers = /** @type {Numbers} */ (await getJson(`/viz/numbers.json${query()}`))
    if (serial !== page.numbersSerial || signal.aborted) return
    applyNumbers(svgs.shipment, numbers.machines.shipment, page.numbers?.machines.shipment ?? null, refusedText(words, 'shipment'))
    applyNumbers(svgs.truck, numbers.machines.truck, page.numbers?.machines.truck ?? null, refusedText(words, 'truck'))
    page.numbers = numbers
    page.view?.onNumbers?.(numbers)
    byId('updated').textContent = `updated ${new Date(numbers.generatedAt).toLocaleTimeString()}`
    byId('chart').dataset.statsAt = numbers.generatedAt
  }

  /** Coalesces live changes: at most one numbers read (and panel refresh) per second. @param {{ numbers?: boolean, view?: boolean }} what */
  function schedule(what) {
    page.pending = { numbers: page.pending.numbers || Boolean(what.numbers), view: page.pending.view || Boolean(what.view) }
    if (page.refreshTimer !== null) return
    const wait = Math.max(0, page.lastRefresh + minInterval - Date.now())
    page.refreshTimer = setTimeout(() => {
      page.refreshTimer = null
      const { numbers, view } = page.pending
      page.pending = { numbers: false, view: false }
      if (numbers) refreshNumbers().catch(fail)
      if (view) route().catch(fail)
    }, wait)
  }

  // --- the side panel --------------------------------------------------------------------------
  async function route() {
    const { words, svgs } = page
    if (!words || !svgs.shipment || !svgs.truck) return
    const serial = ++page.routeSerial
    const place = parseRoute(location.hash)
    /** @type {import('./views.js').Context} */
    const context = { words, numbers: page.numbers, range: range(), query, now: () => Date.now() }
    /** @type {View} */
    let view
    switch (place.view) {
      case 'state':
        view = await renderState(context, place.state)
        break
      case 'shipment':
        view = await renderShipment(context, place.shipmentId, place.version)
        break
      case 'rejections':
        view = await renderRejections(context, { state: place.state, command: place.command, reason: place.reason })
        break
      case 'stuck':
        view = await renderStuck(context)
        break
      case 'devices':
        view = await renderWho(context, 'device')
        break
      case 'operators':
        view = await renderWho(context, 'operator')
        break
      case 'device':
        view = await renderWhoDetail(context, 'device', place.deviceId)
        break
      case 'operator':
        view = await renderWhoDetail(context, 'operator', place.operatorId)
        break
      case 'destinations':
        view = await renderDestinations(context)
        break
      case 'destination':
        view = await renderDestination(context, place.destination)
        break
      case 'trucks':
        view = await renderTrucks(context)
        break
      case 'truck':
        view = await renderTruck(context, place.truckId)
        break
      case 'compare':
        view = await renderCompare(context)
        break
      case 'report':
        view = await renderReport(context)
        break
      default:
        view = await renderOverview(context)
    }
    if (serial !== page.routeSerial || signal.aborted) return
    page.view = view
    document.body.dataset.view = place.view
    byId('panel').replaceChildren(view.element)
    byId('panel').dataset.view = place.view
    selectState(svgs.shipment, view.selected?.machine === 'shipment' ? view.selected.state : null)
    selectState(svgs.truck, view.selected?.machine === 'truck' ? view.selected.state : null)
    highlightPath(svgs.shipment, view.path ?? null)
  }
  window.addEventListener(
    'hashchange',
    () => {
      if (!/(^#|&)token=/.test(location.hash)) route().catch(fail)
    },
    { signal },
  )

  // --- downloads -------------------------------------------------------------------------------
  for (const button of /** @type {HTMLButtonElement[]} */ ([...document.querySelectorAll('[data-download]')])) {
    button.addEventListener(
      'click',
      () => {
        const [machine, kind] = (button.dataset.download ?? '').split(':')
        const words = page.words?.machines[machine === 'truck' ? 'truck' : 'shipment']
        if (!words) return
        const numbers = kind === 'svg'
        const path = numbers ? `/viz/chart.svg${query({ machine: machine ?? 'shipment', numbers: 'true' })}` : `/viz/chart.mmd?machine=${machine}`
        getBlob(path)
          .then((blob) => save(blob, `${words.id}-v${words.version}${numbers ? '-numbers' : ''}.${numbers ? 'svg' : 'mmd'}`))
          .catch(fail)
      },
      { signal },
    )
  }

  // --- start -----------------------------------------------------------------------------------
  let stopFollowing = () => {}
  const live = byId('live')
  live.dataset.status = 'connecting'
  live.textContent = 'connecting…'
  ;(async () => {
    const [words, shipmentSvg, truckSvg] = await Promise.all([
      /** @type {Promise<Glossary>} */ (getJson('/viz/glossary.json')),
      getText('/viz/chart.svg?machine=shipment', 'image/svg+xml'),
      getText('/viz/chart.svg?machine=truck', 'image/svg+xml'),
    ])
    if (signal.aborted) return
    page.words = words
    byId('machine').textContent = `${words.machines.shipment.id} v${words.machines.shipment.version} · ${words.machines.truck.id} v${words.machines.truck.version}`
    const open = (/** @type {string} */ state) => {
      location.hash = `#/state/${encodeURIComponent(state)}`
    }
    page.svgs.shipment = mountChart(byId('chart'), shipmentSvg, words.machines.shipment, open)
    page.svgs.truck = mountChart(byId('truck-chart'), truckSvg, words.machines.truck, open)
    byId('chart').setAttribute('aria-busy', 'false')
    await refreshNumbers()
    await route()
    if (signal.aborted) return
    stopFollowing = follow({
      onEvent: (event) => schedule({ numbers: true, view: page.view?.onEvent?.(event) ?? false }),
      onStatus: (status) => {
        if (status === 'signed-out') return signedOut('Your session has ended (signed out elsewhere, expired, or its token was revoked).')
        live.dataset.status = status
        live.textContent = status === 'live' ? 'live' : `${status}…`
        // Events may have been missed while reconnecting: read the numbers again once back.
        if (status === 'live') schedule({ numbers: true })
      },
    })
  })().catch(fail)

  return () => {
    cleanup.abort()
    stopFollowing()
    if (page.refreshTimer !== null) clearTimeout(page.refreshTimer)
    byId('chart').replaceChildren()
    byId('truck-chart').replaceChildren()
    byId('panel').replaceChildren()
  }
}

/** @param {string} message */
function showError(message) {
  const banner = byId('error')
  banner.textContent = message
  banner.hidden = false
  setTimeout(() => {
    banner.hidden = true
  }, 8000)
}
