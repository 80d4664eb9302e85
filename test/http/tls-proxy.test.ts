import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { startTestService, tempDir } from '../helpers/service.js'

// On the depot LAN: HTTPS from certificate and key files, or a reverse proxy trusted for
// X-Forwarded-For; failed-auth throttling keys on the real client, and valid tokens always pass.

const exec = promisify(execFile)

t.test('HTTPS with WAYBILL_TLS_CERT and WAYBILL_TLS_KEY', async (t) => {
  const dir = tempDir(t)
  const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')]
  await exec('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert])
  const api = await startTestService(t, { http: true, env: { WAYBILL_TLS_CERT: cert, WAYBILL_TLS_KEY: key, HOST: '127.0.0.1' } })
  t.match(api.service.url, /^https:\/\/127\.0\.0\.1:\d+$/, 'the API listens with TLS')
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(`${api.service.url}/health`, { ca: readFileSync(cert) }, (res) => (res.resume(), resolve(res.statusCode!)))
    req.on('error', reject)
    req.end()
  })
  t.equal(status, 200, 'a client that trusts the certificate is served')
  const plain = await fetch(api.service.url!.replace('https:', 'http:') + '/health').then((r) => r.status, (error: Error) => error.message)
  t.not(plain, 200, 'plain HTTP is not served')
})

t.test('one device with a revoked token never locks valid tokens out of its address', async (t) => {
  const api = await startTestService(t, { env: { WAYBILL_AUTH_FAILURE_LIMIT: '3' } })
  const revoked = await api.service.storage.tokens.create({ deviceId: 'lost-scanner', role: 'scanner' })
  await api.service.storage.tokens.revoke(revoked.info.tokenId)
  const valid = (await api.service.storage.tokens.create({ deviceId: 'dock-1', role: 'scanner' })).token
  const statuses = []
  for (let i = 0; i < 5; i++) statuses.push((await api.request('GET', '/shipments', undefined, { authorization: `Bearer ${revoked.token}` })).status)
  t.same(statuses, [401, 401, 401, 429, 429], 'the revoked token is throttled after the limit')
  t.equal((await api.request('GET', '/shipments', undefined, { authorization: `Bearer ${valid}` })).status, 200, 'a valid token from the same address is served')
})

t.test('behind a trusted proxy, throttling keys on the client X-Forwarded-For names', async (t) => {
  const api = await startTestService(t, { env: { WAYBILL_AUTH_FAILURE_LIMIT: '2', WAYBILL_TRUST_PROXY: '127.0.0.1' } })
  const from = (client: string) => ({ authorization: 'Bearer wb_not-a-token-at-all', 'x-forwarded-for': client })
  const a = []
  for (let i = 0; i < 3; i++) a.push((await api.request('GET', '/shipments', undefined, from('10.0.0.5'))).status)
  t.same(a, [401, 401, 429], 'the client at 10.0.0.5 is throttled')
  t.equal((await api.request('GET', '/shipments', undefined, from('10.0.0.6'))).status, 401, 'another client behind the same proxy is not')

  const untrusted = await startTestService(t, { env: { WAYBILL_AUTH_FAILURE_LIMIT: '2' } })
  const b = []
  for (const client of ['10.0.0.5', '10.0.0.6', '10.0.0.7']) b.push((await untrusted.request('GET', '/shipments', undefined, from(client))).status)
  t.same(b, [401, 401, 429], 'without WAYBILL_TRUST_PROXY the header is ignored (it could be forged)')
})
