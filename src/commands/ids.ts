import { randomUUID } from 'node:crypto'

/**
 * Command ids are UUIDv7 (RFC 9562): a 48-bit millisecond timestamp, then randomness. They sort by
 * creation time, so the inbox's unique index on them grows at its end instead of at random places
 * (fewer pages touched per insert), and a glance at an id tells roughly when it was made.
 *
 * The random bits come from `randomUUID()` (a v4 UUID: Node serves it from a cached entropy pool,
 * where filling a small buffer per id costs a system call): its first 48 bits are replaced by the
 * time and its version nibble by 7; the variant bits are the same for v4 and v7.
 */
export function newCommandId(now: number = Date.now()): string {
  const random = randomUUID()
  const time = Math.trunc(now).toString(16).padStart(12, '0').slice(-12)
  return `${time.slice(0, 8)}-${time.slice(8)}-7${random.slice(15)}`
}
