import t from 'tap'
import { newCommandId } from '../../src/commands/ids.js'

t.test('command ids are UUIDv7: time first, sortable, unique', async (t) => {
  const at = Date.parse('2026-11-27T10:00:00.123Z')
  const id = newCommandId(at)
  t.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  t.equal(parseInt(id.replaceAll('-', '').slice(0, 12), 16), at, 'the first 48 bits are the time')
  const ids = Array.from({ length: 1000 }, (_, i) => newCommandId(at + i))
  t.same([...ids].sort(), ids, 'later ids sort later')
  t.equal(new Set(Array.from({ length: 10000 }, () => newCommandId(at))).size, 10000, 'unique within a millisecond')
})
