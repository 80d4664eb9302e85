// bee-queue 2.0.0 internals used to reload its Lua scripts after a Redis restart (NOSCRIPT).
declare module 'bee-queue/lib/lua/index.js' {
  import type { RedisClient } from 'redis'
  const lua: { buildCache(client: RedisClient): Promise<unknown> }
  export default lua
}
