-- room_pin: feature a product in a room (or stop), keep the pin history, announce it.
-- uses: _publish
-- KEYS[1] room hash   KEYS[2] pin history stream   KEYS[3] room seq   KEYS[4] room events
-- ARGV[1] pinned product card JSON ('' to unpin)   ARGV[2] now (ms)   ARGV[3] room channel
-- ARGV[4] stream max length   ARGV[5] event payload (MessagePack)
-- Returns {1, seq}; {0, 'not_found' | 'room_ended' | 'not_pinned'} when refused.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return {0, 'not_found'}
end
if state == 'ended' then
  return {0, 'room_ended'}
end
if ARGV[1] == '' then
  if (redis.call('HGET', KEYS[1], 'pinned') or '') == '' then
    return {0, 'not_pinned'}
  end
  redis.call('HSET', KEYS[1], 'pinned', '')
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000, '*', 'at', ARGV[2], 'product', '')
else
  redis.call('HSET', KEYS[1], 'pinned', ARGV[1])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000, '*', 'at', ARGV[2], 'product', ARGV[1])
end
return {1, publish(KEYS[3], KEYS[4], ARGV[3], ARGV[4], ARGV[5])}
