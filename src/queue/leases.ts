/**
 * Partition leases on Redis, the installation's keys and the scripts that keep a lease (each script
 * opens with a comment naming its keys and arguments). A lease is for efficiency only — which process
 * consumes a partition; the fencing epoch in the database is what keeps a superseded owner from
 * writing (decisions/ownership.ts).
 */
/** 1: renewed; 2: the lease was gone (Redis restarted or flushed) and is ours again; 0: someone else's. */
export const renewScript = `-- KEYS[1] lease key; ARGV[1] owner; ARGV[2] ttl ms
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
if not holder then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]); return 2 end
return 0`
export const releaseScript = `-- KEYS[1] lease key; ARGV[1] owner
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`

/**
 * Heartbeats of an installation's processes and deciding workers, scored by Redis's own clock (TIME):
 * a process whose clock stepped back must not keep a dead one counted live (it would leave that
 * one's share of the partitions unowned until its clock caught up). Adds this process and worker
 * (either may be '': only look), drops heartbeats older than ARGV[3] ms, and returns the live worker
 * count and the live process members. Redis ≥ 5 replicates a script's effects, so writes may follow TIME.
 */
export const heartbeatScript = `-- KEYS[1] processes; KEYS[2] workers; ARGV[1] this process or ''; ARGV[2] this worker or ''; ARGV[3] ms a heartbeat counts
local time = redis.call('time')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if ARGV[1] ~= '' then redis.call('zadd', KEYS[1], now, ARGV[1]) end
if ARGV[2] ~= '' then redis.call('zadd', KEYS[2], now, ARGV[2]) end
redis.call('zremrangebyscore', KEYS[1], '-inf', now - tonumber(ARGV[3]))
redis.call('zremrangebyscore', KEYS[2], '-inf', now - tonumber(ARGV[3]))
return {redis.call('zcard', KEYS[2]), redis.call('zrange', KEYS[1], 0, -1)}`

/** Redis keys of an installation (all under its prefix). */
export const ownershipKeys = (prefix: string) => ({
  lease: (partition: number) => `${prefix}:lease:${partition}`,
  /** Processes that decide (heartbeat scores): the fair share divides among these. */
  workers: `${prefix}:workers`,
  /** Every live process of the installation, API-only ones too, with its partition count. */
  processes: `${prefix}:processes`,
})

