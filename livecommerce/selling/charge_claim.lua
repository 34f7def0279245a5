-- charge_claim: lease up to N due entries of the open-charges ledger to the calling sweeper.
-- KEYS[1] open charges zset (member a charge's idempotency key, score when to look at it, ms)
-- KEYS[2] open charges hash (member -> what the charge was for, JSON)
-- ARGV[1] now (ms)   ARGV[2] lease (ms)   ARGV[3] most entries to claim
-- Returns {member, JSON, member, JSON, ...}, earliest due first. Each claimed entry is moved
-- to now + lease in the same step, so no other process looks at it meanwhile; if this one
-- dies mid-way, the lease runs out and another takes it up.
local due_key = KEYS[1]
local info_key = KEYS[2]
local now = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local most = tonumber(ARGV[3])

local due = redis.call('ZRANGEBYSCORE', due_key, '-inf', now, 'LIMIT', 0, most)
local leased_until = now + lease
local out = {}
for _, member in ipairs(due) do
  local info = redis.call('HGET', info_key, member)
  if info then
    redis.call('ZADD', due_key, 'XX', leased_until, member)
    out[#out + 1] = member
    out[#out + 1] = info
  else
    redis.call('ZREM', due_key, member)
  end
end
return out
