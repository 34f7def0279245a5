-- chat_post: post one chat line if the room takes chat and the sender may speak now.
-- uses: _publish, _gcra
-- KEYS[1] room hash   KEYS[2] seq counter   KEYS[3] event stream   KEYS[4] sender's rate key
-- KEYS[5] banned users (set)   KEYS[6] timed-out users (hash user -> until ms)
-- KEYS[7] sender's slow-mode key   KEYS[8] chat index (hash message id -> "seq|event")
-- KEYS[9] chat index order (zset message id by seq; the index keeps ARGV[10] messages)
-- ARGV[1] channel   ARGV[2] stream max length   ARGV[3] event payload (MessagePack)
-- ARGV[4] now (ms)   ARGV[5] emission interval (ms per message)   ARGV[6] burst
-- ARGV[7] sender id   ARGV[8] message id   ARGV[9] '1' for an operator (no slow mode)
-- KEYS[10] the sender's key for this line (what it posted, "seq|message id")
-- ARGV[10] messages indexed   ARGV[11] how long the sender's key is kept (ms; 0: no key).
-- A resend with a key already used returns what it posted, whatever has changed since (a
-- ban, the show's end): the line is in the room once. Slow mode does not apply to the host and the moderators, read
-- from the room hash here so a removed moderator is slowed from their next line.
-- Returns {1, seq} when posted; {2, "seq|message id"} for a key already used; {0, retry_after_ms} when rate limited or in slow mode;
-- {-1, state} when the room is ended or missing (state "" when missing);
-- {-2, 'banned'} for a banned sender; {-3, until_ms} for a timed-out sender.
-- Bans and time-outs are read here, in the same step that posts, so no process can let
-- a banned user's line through after the ban (invariant 7).
-- The rate limit is GCRA (_gcra.lua): one key per sender.
local room_key = KEYS[1]
local seq_key = KEYS[2]
local events_key = KEYS[3]
local rate_key = KEYS[4]
local bans_key = KEYS[5]
local timeouts_key = KEYS[6]
local slow_key = KEYS[7]
local chat_key = KEYS[8]
local chat_order_key = KEYS[9]
local channel = ARGV[1]
local maxlen = ARGV[2]
local payload = ARGV[3]
local now = tonumber(ARGV[4])
local interval = tonumber(ARGV[5])
local burst = tonumber(ARGV[6])
local sender = ARGV[7]
local message_id = ARGV[8]
local is_operator = ARGV[9] == '1'
local indexed = tonumber(ARGV[10])
local line_key = KEYS[10]
local key_ms = tonumber(ARGV[11])

if key_ms > 0 then
  local posted = redis.call('GET', line_key)
  if posted then
    return {2, posted}
  end
end

local state = redis.call('HGET', room_key, 'state')
if not state or state == 'ended' then
  return {-1, state or ''}
end
if redis.call('SISMEMBER', bans_key, sender) == 1 then
  return {-2, 'banned'}
end
local until_ms = tonumber(redis.call('HGET', timeouts_key, sender) or '0')
if until_ms > now then
  return {-3, until_ms}
elseif until_ms > 0 then
  redis.call('HDEL', timeouts_key, sender)
end
local slow_ms = tonumber(redis.call('HGET', room_key, 'slow_s') or '0') * 1000
if slow_ms > 0 then
  local exempt = is_operator or redis.call('HGET', room_key, 'host_id') == sender
  if not exempt then
    local mods = ',' .. (redis.call('HGET', room_key, 'moderators') or '') .. ','
    exempt = string.find(mods, ',' .. sender .. ',', 1, true) ~= nil
  end
  if exempt then
    slow_ms = 0
  end
end
if slow_ms > 0 then
  local wait = redis.call('PTTL', slow_key)
  if wait > 0 then
    return {0, wait}
  end
end
local wait = gcra(rate_key, now, interval, burst)
if wait then
  return {0, wait}
end
if slow_ms > 0 then
  redis.call('SET', slow_key, 1, 'PX', slow_ms)
end
local seq = publish(seq_key, events_key, channel, maxlen, payload)
redis.call('HSET', chat_key, message_id, seq .. '|' .. payload)
redis.call('ZADD', chat_order_key, seq, message_id)
if key_ms > 0 then
  redis.call('SET', line_key, seq .. '|' .. message_id, 'PX', key_ms)
end
local over = redis.call('ZCARD', chat_order_key) - indexed
if over > 0 then
  local popped = redis.call('ZPOPMIN', chat_order_key, over)
  for i = 1, #popped, 2 do
    redis.call('HDEL', chat_key, popped[i])
  end
end
return {1, seq}
