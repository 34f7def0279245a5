-- webhook_claim: lease up to N due webhook deliveries to the calling dispatcher.
-- KEYS[1] due sorted set (member a delivery id, score its due time in ms)
-- ARGV[1] now (ms)   ARGV[2] lease (ms)   ARGV[3] most deliveries to claim
-- Returns the claimed delivery ids, earliest due first. Each is moved forward to
-- now + lease in the same step, so no other dispatcher takes it while this one sends it;
-- if this one dies mid-attempt, the lease runs out and another retries the delivery.
local now = tonumber(ARGV[1])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local leased_until = now + tonumber(ARGV[2])
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], 'XX', leased_until, id)
end
return ids
