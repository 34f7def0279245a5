-- room_pin: feature a product in a room (or stop), keep the pin history, announce it.
-- uses: _publish
-- KEYS[1] room hash   KEYS[2] pin history stream   KEYS[3] room seq   KEYS[4] room events
-- ARGV[1] pinned product card JSON ('' to unpin)   ARGV[2] now (ms)   ARGV[3] room channel
-- ARGV[4] stream max length   ARGV[5] event payload (MessagePack)
-- Returns {1, seq}; {0, 'not_found' | 'room_ended' | 'not_pinned'} when refused.
local room_key = KEYS[1]
local pins_key = KEYS[2]
local seq_key = KEYS[3]
local events_key = KEYS[4]
local card = ARGV[1]
local now = ARGV[2]
local channel = ARGV[3]
local maxlen = ARGV[4]
local payload = ARGV[5]

local state = redis.call('HGET', room_key, 'state')
if not state then
  return {0, 'not_found'}
end
if state == 'ended' then
  return {0, 'room_ended'}
end
if card == '' then
  if (redis.call('HGET', room_key, 'pinned') or '') == '' then
    return {0, 'not_pinned'}
  end
  redis.call('HSET', room_key, 'pinned', '')
  redis.call('XADD', pins_key, 'MAXLEN', '~', 1000, '*', 'at', now, 'product', '')
else
  redis.call('HSET', room_key, 'pinned', card)
  redis.call('XADD', pins_key, 'MAXLEN', '~', 1000, '*', 'at', now, 'product', card)
end
return {1, publish(seq_key, events_key, channel, maxlen, payload)}
