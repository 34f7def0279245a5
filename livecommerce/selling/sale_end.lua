-- sale_end: close an active sale (time up or stopped by the host) and announce it, once.
-- uses: _publish
-- KEYS[1] the sale hash   KEYS[2] room seq counter   KEYS[3] room event stream
-- ARGV[1] reason (time_up or stopped)   ARGV[2] now (ms)   ARGV[3] room channel
-- ARGV[4] stream max length   ARGV[5] sale.ended payload (MessagePack)
-- Returns {1, seq} when ended now; {0, reason}: not_found, already_ended, or not_due
-- (time_up asked before the sale's end). Every process may call it for every due sale.
local sale_key = KEYS[1]
local seq_key = KEYS[2]
local events_key = KEYS[3]
local reason = ARGV[1]
local now = ARGV[2]
local channel = ARGV[3]
local maxlen = ARGV[4]
local payload = ARGV[5]

local state = redis.call('HGET', sale_key, 'state')
if not state then
  return {0, 'not_found'}
end
if state ~= 'active' then
  return {0, 'already_ended'}
end
if reason == 'time_up' and tonumber(now) < tonumber(redis.call('HGET', sale_key, 'ends_at')) then
  return {0, 'not_due'}
end
redis.call('HSET', sale_key, 'state', 'ended', 'end_reason', reason, 'ended_at', now)
return {1, publish(seq_key, events_key, channel, maxlen, payload)}
