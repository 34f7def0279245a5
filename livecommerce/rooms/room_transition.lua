-- room_transition: move a room from one state to another and announce it, atomically.
-- uses: _publish, _room
-- KEYS[1] room hash   KEYS[2] seq counter   KEYS[3] event stream
-- ARGV[1] channel   ARGV[2] stream max length   ARGV[3] expected state   ARGV[4] new state
-- ARGV[5] timestamp field to set ("started_at" or "ended_at")   ARGV[6] now (ms)
-- ARGV[7] event payload (MessagePack)
-- Returns {1, seq} on success, {0, current_state} when the room is not in the expected
-- state, {-1, ""} when the room does not exist.
local room_key = KEYS[1]
local seq_key = KEYS[2]
local events_key = KEYS[3]
local channel = ARGV[1]
local maxlen = ARGV[2]
local expected = ARGV[3]
local new_state = ARGV[4]
local stamp_field = ARGV[5]
local now = ARGV[6]
local payload = ARGV[7]

local refused = room_refusal(room_key, expected)
if refused then
  return refused
end
redis.call('HSET', room_key, 'state', new_state, stamp_field, now)
return {1, publish(seq_key, events_key, channel, maxlen, payload)}
