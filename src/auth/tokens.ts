import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import type { Sql } from '../store/sql.js'

/**
 * Device tokens. A token is 256 random bits shown once at creation; only its SHA-256 is stored (a
 * fast hash is enough for a secret of that entropy). Tokens name a device and a role, can be revoked,
 * and remember when they were last seen: kept in memory on the request path (a write there would wait
 * for another process's write lock, blocking the event loop up to the busy timeout) and written by
 * `flushSeen`, which the service calls periodically and on close.
 */
export type Role = 'scanner' | 'reviewer' | 'admin'
export const roles: readonly Role[] = ['scanner', 'reviewer', 'admin']

export interface Principal {
  readonly tokenId: string
  readonly deviceId: string
  readonly role: Role
}

export interface TokenInfo {
  readonly tokenId: string
  readonly deviceId: string
  readonly role: Role
  readonly label: string | null
  readonly createdAt: string
  readonly lastSeenAt: string | null
  readonly revokedAt: string | null
}

const tokenPrefix = 'wb_'
const seenEveryMs = 60_000

interface TokenRow {
  token_id: string
  device_id: string
  role: Role
  label: string | null
  created_at: number
  last_seen_at: number | null
  revoked_at: number | null
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

export class TokenStore {
  readonly #bootstrapHash: Buffer | null
  /** Last seen per token, not yet written (at most one entry per token). */
  readonly #unflushed = new Map<string, number>()

  constructor(
    private readonly sql: Sql,
    bootstrapToken: string | undefined,
    private readonly clock: () => number = Date.now,
  ) {
    this.#bootstrapHash = bootstrapToken ? Buffer.from(hashToken(bootstrapToken), 'hex') : null
  }

  /** Creates a token; the secret is returned here and never again. */
  async create(input: { deviceId: string; role: Role; label?: string }): Promise<{ token: string; info: TokenInfo }> {
    const token = tokenPrefix + randomBytes(32).toString('base64url')
    const tokenId = randomUUID()
    await this.sql.write((tx) =>
      tx.run('INSERT INTO tokens (token_id, token_hash, device_id, role, label, created_at) VALUES (@id, @hash, @device, @role, @label, @now)', {
        id: tokenId,
        hash: hashToken(token),
        device: input.deviceId,
        role: input.role,
        label: input.label ?? null,
        now: this.clock(),
      }),
    )
    return { token, info: (await this.get(tokenId))! }
  }

  async list(): Promise<TokenInfo[]> {
    return (await this.sql.all<TokenRow>('SELECT * FROM tokens ORDER BY created_at, token_id')).map((row) => toInfo(this.#withSeen(row)))
  }

  async get(tokenId: string): Promise<TokenInfo | undefined> {
    const row = await this.sql.get<TokenRow>('SELECT * FROM tokens WHERE token_id = @id', { id: tokenId })
    return row && toInfo(this.#withSeen(row))
  }

  /** The row as this process knows it: a sighting not yet written counts. */
  #withSeen(row: TokenRow): TokenRow {
    const seen = this.#unflushed.get(row.token_id)
    return seen !== undefined && seen > (row.last_seen_at ?? 0) ? { ...row, last_seen_at: seen } : row
  }

  /**
   * Writes the sightings kept in memory, in one transaction that does not wait for the write lock:
   * when another process holds it, they stay for the next flush. Returns how many were written.
   */
  async flushSeen(): Promise<number> {
    if (this.#unflushed.size === 0) return 0
    const entries = [...this.#unflushed]
    try {
      await this.sql.write(
        async (tx) => {
          for (const [tokenId, at] of entries) {
            await tx.run('UPDATE tokens SET last_seen_at = CASE WHEN coalesce(last_seen_at, 0) > @at THEN last_seen_at ELSE @at END WHERE token_id = @id', { at, id: tokenId })
          }
        },
        { nowait: true },
      )
    } catch {
      return 0 // locked, full or closed: best effort, the next flush tries again
    }
    for (const [tokenId, at] of entries) if (this.#unflushed.get(tokenId) === at) this.#unflushed.delete(tokenId)
    return entries.length
  }

  async revoke(tokenId: string): Promise<boolean> {
    return (await this.sql.write((tx) => tx.run('UPDATE tokens SET revoked_at = @now WHERE token_id = @id AND revoked_at IS NULL', { now: this.clock(), id: tokenId }))) === 1
  }

  /** True for a token that exists and was revoked (to tell the two 401s apart). */
  async isRevoked(token: string): Promise<boolean> {
    const row = await this.sql.get<TokenRow>('SELECT * FROM tokens WHERE token_hash = @hash', { hash: hashToken(token) })
    return row !== undefined && row.revoked_at !== null
  }

  /**
   * Whether the principal's token is still valid (not revoked, by this process or any other): what
   * long-lived requests (event streams) re-check while they stay open. The bootstrap token lives in
   * the configuration and cannot be revoked.
   */
  async isActive(tokenId: string): Promise<boolean> {
    if (tokenId === 'bootstrap') return this.#bootstrapHash !== null
    return (await this.sql.get('SELECT 1 AS active FROM tokens WHERE token_id = @id AND revoked_at IS NULL', { id: tokenId })) !== undefined
  }

  /** The principal a bearer token stands for, or undefined (unknown or revoked). */
  async verify(token: string): Promise<Principal | undefined> {
    const hash = hashToken(token)
    if (this.#bootstrapHash && timingSafeEqual(Buffer.from(hash, 'hex'), this.#bootstrapHash)) {
      return { tokenId: 'bootstrap', deviceId: 'bootstrap', role: 'admin' }
    }
    const row = await this.sql.get<TokenRow>('SELECT * FROM tokens WHERE token_hash = @hash', { hash })
    if (!row || row.revoked_at !== null) return undefined
    const now = this.clock()
    // In memory only (see the class comment); the resolution stays a minute per token.
    const known = this.#unflushed.get(row.token_id) ?? row.last_seen_at
    if (known === null || now - known >= seenEveryMs) this.#unflushed.set(row.token_id, now)
    return { tokenId: row.token_id, deviceId: row.device_id, role: row.role }
  }
}

function toInfo(row: TokenRow): TokenInfo {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())
  return {
    tokenId: row.token_id,
    deviceId: row.device_id,
    role: row.role,
    label: row.label,
    createdAt: iso(row.created_at)!,
    lastSeenAt: iso(row.last_seen_at),
    revokedAt: iso(row.revoked_at),
  }
}
