import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import type { Statement } from 'better-sqlite3'
import type { Db, Migration } from '../store/database.js'

/**
 * Device tokens. A token is 256 random bits shown once at creation; only its SHA-256 is stored (a
 * fast hash is enough for a secret of that entropy). Tokens name a device and a role, can be revoked,
 * and remember when they were last seen (written at most once a minute per token).
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

export const tokenMigrations: readonly Migration[] = [
  {
    id: 'auth/1-tokens',
    sql: `
      CREATE TABLE tokens (
        token_id     TEXT    PRIMARY KEY,
        token_hash   TEXT    NOT NULL UNIQUE,
        device_id    TEXT    NOT NULL,
        role         TEXT    NOT NULL CHECK (role IN ('scanner', 'reviewer', 'admin')),
        label        TEXT,
        created_at   INTEGER NOT NULL,
        last_seen_at INTEGER,
        revoked_at   INTEGER
      );
    `,
  },
]

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
  readonly #insert: Statement
  readonly #byHash: Statement
  readonly #byId: Statement
  readonly #list: Statement
  readonly #revoke: Statement
  readonly #seen: Statement
  readonly #bootstrapHash: Buffer | null

  constructor(
    db: Db,
    bootstrapToken: string | undefined,
    private readonly clock: () => number = Date.now,
  ) {
    this.#insert = db.prepare(
      'INSERT INTO tokens (token_id, token_hash, device_id, role, label, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    )
    this.#byHash = db.prepare('SELECT * FROM tokens WHERE token_hash = ?')
    this.#byId = db.prepare('SELECT * FROM tokens WHERE token_id = ?')
    this.#list = db.prepare('SELECT * FROM tokens ORDER BY created_at, token_id')
    this.#revoke = db.prepare('UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL')
    this.#seen = db.prepare('UPDATE tokens SET last_seen_at = ? WHERE token_id = ?')
    this.#bootstrapHash = bootstrapToken ? Buffer.from(hashToken(bootstrapToken), 'hex') : null
  }

  /** Creates a token; the secret is returned here and never again. */
  create(input: { deviceId: string; role: Role; label?: string }): { token: string; info: TokenInfo } {
    const token = tokenPrefix + randomBytes(32).toString('base64url')
    const tokenId = randomUUID()
    this.#insert.run(tokenId, hashToken(token), input.deviceId, input.role, input.label ?? null, this.clock())
    return { token, info: this.get(tokenId)! }
  }

  list(): TokenInfo[] {
    return (this.#list.all() as TokenRow[]).map(toInfo)
  }

  get(tokenId: string): TokenInfo | undefined {
    const row = this.#byId.get(tokenId) as TokenRow | undefined
    return row && toInfo(row)
  }

  revoke(tokenId: string): boolean {
    return this.#revoke.run(this.clock(), tokenId).changes === 1
  }

  /** The principal a bearer token stands for, or undefined (unknown or revoked). */
  verify(token: string): Principal | undefined {
    const hash = hashToken(token)
    if (this.#bootstrapHash && timingSafeEqual(Buffer.from(hash, 'hex'), this.#bootstrapHash)) {
      return { tokenId: 'bootstrap', deviceId: 'bootstrap', role: 'admin' }
    }
    const row = this.#byHash.get(hash) as TokenRow | undefined
    if (!row || row.revoked_at !== null) return undefined
    const now = this.clock()
    if (row.last_seen_at === null || now - row.last_seen_at >= seenEveryMs) {
      try {
        this.#seen.run(now, row.token_id)
      } catch {
        // Best effort: a locked or full database must not fail the request; the next one records it.
      }
    }
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
