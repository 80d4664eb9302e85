import { randomFillSync } from 'node:crypto'

/**
 * Command ids are UUIDv7 (RFC 9562): a 48-bit millisecond timestamp, then randomness. They sort by
 * creation time, so the inbox's unique index on them grows at its end instead of at random places
 * (fewer pages touched per insert), and a glance at an id tells roughly when it was made.
 */
export function newCommandId(now: number = Date.now()): string {
  const bytes = randomFillSync(new Uint8Array(16))
  let ms = now
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms & 0xff
    ms = Math.floor(ms / 256)
  }
  bytes[6] = (bytes[6]! & 0x0f) | 0x70
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = Buffer.from(bytes).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
