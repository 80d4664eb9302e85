import { request } from 'node:http'
import t from 'tap'
import { ReviewSessions } from '../../src/http/auth.js'
import { startTestService } from '../helpers/service.js'

// Issue 15, item 7: the process map's sign-in. A reviewer's token is exchanged for a session cookie
// (HttpOnly, SameSite=Strict) that every tab of the map shares; the cookie reads what a reviewer may
// read and nothing else (no write, no admin route, no request another site started); signing out,
// expiry and revoking the token end it; a scanner's token is told in words why the map stays shut.

type Answer = { status: number; body: any; headers: Record<string, string | string[] | number | undefined> }

t.test('the process map session', async (t) => {
  const api = await startTestService(t, { http: true })
  const mint = async (role: string) => (await api.request('POST', '/admin/tokens', { deviceId: `session-${role}`, role })).body as { token: string; tokenId: string }
  const reviewer = await mint('reviewer')
  const admin = await mint('admin')
  const scanner = await mint('scanner')
  const bare = (method: string, url: string, headers: Record<string, string> = {}, body?: unknown): Promise<Answer> =>
    api.request(method, url, body, { authorization: '', ...headers }).then((r) => r)
  /** Request headers without Authorization (inject leaves an empty one out). */
  const withCookie = (cookie: string, extra: Record<string, string> = {}) => ({ cookie, ...extra })
  const signIn = async (token: string) => {
    const res = await api.request('POST', '/viz/session', undefined, { authorization: `Bearer ${token}` })
    const set = String(res.headers['set-cookie'] ?? '')
    return { res, set, cookie: set.split(';')[0]! }
  }

  t.test('a reviewer token becomes a session cookie: HttpOnly, SameSite=Strict, for the whole site, a working day', async (t) => {
    const { res, set, cookie } = await signIn(reviewer.token)
    t.equal(res.status, 201)
    t.match(res.body, { deviceId: 'session-reviewer', role: 'reviewer', expiresAt: String })
    t.match(set, /^waybill_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/, 'no Secure over plain HTTP (it would never be sent back)')
    t.equal(res.headers['cache-control'], 'no-store')
    t.notMatch(cookie, reviewer.token, 'the cookie is not the token')
    t.match((await bare('GET', '/viz/session', withCookie(cookie))).body, { deviceId: 'session-reviewer', role: 'reviewer' }, 'GET /viz/session says who is signed in')
  })

  t.test('the cookie alone reads what a reviewer reads — a second tab needs no token', async (t) => {
    const { cookie } = await signIn(reviewer.token)
    for (const url of ['/review/summary', '/stats', '/viz/numbers.json', '/viz/glossary.json', '/viz/chart.svg', '/shipments', '/machines/truck', '/events?limit=1']) {
      t.equal((await bare('GET', url, withCookie(cookie))).status, 200, `${url} with the cookie`)
      t.equal((await bare('GET', url)).status, 401, `${url} without it`)
    }
    // The live stream too (EventSource sends cookies, not headers): over a real connection.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(new URL('/events/stream', api.service.url!), { headers: { cookie, accept: 'text/event-stream' } }, (res) => {
        resolve(res.statusCode!)
        req.destroy()
      })
      req.on('error', reject)
      req.end()
    })
    t.equal(status, 200, 'the event stream with the cookie')
  })

  t.test('never a write, never an admin route, never a request another site started', async (t) => {
    const { cookie } = await signIn(admin.token)
    t.equal((await bare('GET', '/review/summary', withCookie(cookie))).status, 200, "an admin's session reads the map")
    const write = await bare('POST', '/shipments/CSRF-1/commands', withCookie(cookie, { 'content-type': 'application/json' }), { type: 'REGISTER' })
    t.equal(write.status, 401, 'a command with the cookie alone is refused')
    t.equal((await api.request('GET', '/shipments/CSRF-1')).status, 404, '…and nothing happened')
    t.equal((await bare('GET', '/admin/tokens', withCookie(cookie))).status, 401, 'an admin-only read is refused to a session, even an admin’s')
    t.equal((await bare('POST', '/admin/tokens', withCookie(cookie, { 'content-type': 'application/json' }), { deviceId: 'x', role: 'admin' })).status, 401)
    t.equal((await bare('GET', '/review/summary', withCookie(cookie, { 'sec-fetch-site': 'cross-site' }))).status, 401, 'a request another site made the browser send')
    t.equal((await bare('GET', '/review/summary', withCookie(cookie, { 'sec-fetch-site': 'same-origin' }))).status, 200, 'the page’s own request')
    t.equal((await bare('GET', '/review/summary', withCookie(cookie, { authorization: 'Bearer wb_wrong' }))).status, 401, 'a bearer token is judged alone, the cookie does not rescue it')
  })

  t.test("a scanner's token is told in words that it cannot open the map", async (t) => {
    const { res, set } = await signIn(scanner.token)
    t.equal(res.status, 403)
    t.match(res.body, { type: '/problems/forbidden', detail: /scanner's token.*cannot open the process map.*reviewer token/ })
    t.equal(set, '', 'no cookie')
    t.equal((await api.request('POST', '/viz/session', undefined, { authorization: 'Bearer wb_unknown' })).status, 401)
  })

  t.test('signing out ends the session (every tab): its cookie is refused afterwards', async (t) => {
    const { cookie } = await signIn(reviewer.token)
    const out = await bare('DELETE', '/viz/session', withCookie(cookie))
    t.equal(out.status, 204)
    t.match(String(out.headers['set-cookie']), /^waybill_session=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0$/, 'the browser forgets the cookie')
    const after = await bare('GET', '/review/summary', withCookie(cookie))
    t.equal(after.status, 401)
    t.match(after.body.detail, /session has ended/)
    t.match(String(after.headers['set-cookie']), /Max-Age=0/, 'a stale cookie is cleared')
    t.equal((await bare('DELETE', '/viz/session', withCookie(cookie, { 'sec-fetch-site': 'cross-site' }))).status, 401, 'another site cannot sign a reviewer out')
  })

  t.test('revoking the token ends its sessions at once, through the API or elsewhere', async (t) => {
    const viaApi = await mint('reviewer')
    const first = await signIn(viaApi.token)
    t.equal((await api.request('DELETE', `/admin/tokens/${viaApi.tokenId}`)).status, 200)
    t.equal((await bare('GET', '/stats', withCookie(first.cookie))).status, 401, 'revoked through the API')
    const elsewhere = await mint('reviewer')
    const second = await signIn(elsewhere.token)
    t.equal((await bare('GET', '/stats', withCookie(second.cookie))).status, 200)
    await api.service.storage.tokens.revoke(elsewhere.tokenId) // as the CLI or another process would
    t.equal((await bare('GET', '/stats', withCookie(second.cookie))).status, 401, 'revoked in the database by someone else')
  })
})

t.test('sessions expire after their time; memory is bounded', async (t) => {
  let now = 1_000_000
  const sessions = new ReviewSessions({ ttlMs: 60_000, max: 2, clock: () => now })
  const principal = { tokenId: 't', deviceId: 'd', role: 'reviewer' as const }
  const a = sessions.create(principal)
  t.equal(sessions.get(a.id)?.principal, principal)
  now += 59_999
  t.ok(sessions.get(a.id), 'alive until its time')
  now += 1
  t.equal(sessions.get(a.id), undefined, 'expired')
  const b = sessions.create(principal)
  sessions.create(principal)
  sessions.create(principal)
  t.equal(sessions.get(b.id), undefined, 'the oldest is let go beyond the bound')
  const c = sessions.create({ ...principal, tokenId: 'other' })
  sessions.endAllOf('t')
  t.ok(sessions.get(c.id), 'ending a token’s sessions leaves the others')
  t.equal(sessions.get('made-up'), undefined)
})
