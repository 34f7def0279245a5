-- sale_end: close an active sale (time up or stopped by the host) and announce it, once.
-- uses: _publish
-- KEYS[1] the sale hash   KEYS[2] room seq counter   KEYS[3] room event stream
-- ARGV[1] reason (time_up or stopped)   ARGV[2] now (ms)   ARGV[3] room channel
-- ARGV[4] stream max length   ARGV[5] sale.ended payload (MessagePack)
-- Returns {1, seq} when ended now; {0, reason}: not_found, already_ended, or not_due
-- (time_up asked before the sale's end). Every process may call it for every due sale.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return {0, 'not_found'}
end
if state ~= 'active' then
  return {0, 'already_ended'}
end
if ARGV[1] == 'time_up' and tonumber(ARGV[2]) < tonumber(redis.call('HGET', KEYS[1], 'ends_at')) then
  return {0, 'not_due'}
end
redis.call('HSET', KEYS[1], 'state', 'ended', 'end_reason', ARGV[1], 'ended_at', ARGV[2])
return {1, publish(KEYS[2], KEYS[3], ARGV[3], ARGV[4], ARGV[5])}
