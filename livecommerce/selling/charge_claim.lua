-- charge_claim: lease up to N due entries of the open-charges ledger to the calling sweeper.
-- KEYS[1] open charges zset (member a charge's idempotency key, score when to look at it, ms)
-- KEYS[2] open charges hash (member -> what the charge was for, JSON)
-- ARGV[1] now (ms)   ARGV[2] lease (ms)   ARGV[3] most entries to claim
-- Returns {member, JSON, member, JSON, ...}, earliest due first. Each claimed entry is moved
-- to now + lease in the same step, so no other process looks at it meanwhile; if this one
-- dies mid-way, the lease runs out and another takes it up.
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local leased_until = now + tonumber(ARGV[2])
local out = {}
for _, member in ipairs(due) do
  local info = redis.call('HGET', KEYS[2], member)
  if info then
    redis.call('ZADD', KEYS[1], 'XX', leased_until, member)
    out[#out + 1] = member
    out[#out + 1] = info
  else
    redis.call('ZREM', KEYS[1], member)
  end
end
return out
