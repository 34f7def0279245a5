-- webhook_claim: lease up to N due webhook deliveries to the calling dispatcher.
-- KEYS[1] due sorted set (member a delivery id, score its due time in ms)
-- ARGV[1] now (ms)   ARGV[2] lease (ms)   ARGV[3] most deliveries to claim
-- Returns the claimed delivery ids, earliest due first. Each is moved forward to
-- now + lease in the same step, so no other dispatcher takes it while this one sends it;
-- if this one dies mid-attempt, the lease runs out and another retries the delivery.
local due_key = KEYS[1]
local now = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local most = tonumber(ARGV[3])

local ids = redis.call('ZRANGEBYSCORE', due_key, '-inf', now, 'LIMIT', 0, most)
local leased_until = now + lease
for _, id in ipairs(ids) do
  redis.call('ZADD', due_key, 'XX', leased_until, id)
end
return ids
