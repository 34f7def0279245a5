-- chat_post: post one chat line if the room takes chat and the sender is within its rate.
-- KEYS[1] room hash   KEYS[2] seq counter   KEYS[3] event stream   KEYS[4] sender's rate key
-- ARGV[1] channel   ARGV[2] stream max length   ARGV[3] event payload (MessagePack)
-- ARGV[4] now (ms)   ARGV[5] emission interval (ms per message)   ARGV[6] burst
-- Returns {1, seq} when posted; {0, retry_after_ms} when rate limited;
-- {-1, state} when the room is ended or missing (state "" when missing).
-- The rate limit is GCRA: one key per sender holding the theoretical arrival time.
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'ended' then
  return {-1, state or ''}
end
local now = tonumber(ARGV[4])
local interval = tonumber(ARGV[5])
local burst = tonumber(ARGV[6])
local tat = tonumber(redis.call('GET', KEYS[4]) or now)
if tat < now then
  tat = now
end
local new_tat = tat + interval
local allow_at = new_tat - interval * burst
if allow_at > now then
  return {0, allow_at - now}
end
redis.call('SET', KEYS[4], new_tat, 'PX', math.ceil(new_tat - now) + 1000)
return {1, publish(KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3])}
