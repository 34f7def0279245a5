-- room_transition: move a room from one state to another and announce it, atomically.
-- uses: _publish
-- KEYS[1] room hash   KEYS[2] seq counter   KEYS[3] event stream
-- ARGV[1] channel   ARGV[2] stream max length   ARGV[3] expected state   ARGV[4] new state
-- ARGV[5] timestamp field to set ("started_at" or "ended_at")   ARGV[6] now (ms)
-- ARGV[7] event payload (MessagePack)
-- Returns {1, seq} on success, {0, current_state} when the room is not in the expected
-- state, {-1, ""} when the room does not exist.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return {-1, ''}
end
if state ~= ARGV[3] then
  return {0, state}
end
redis.call('HSET', KEYS[1], 'state', ARGV[4], ARGV[5], ARGV[6])
return {1, publish(KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[7])}
