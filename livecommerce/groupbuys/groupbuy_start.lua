-- groupbuy_start: open a group buy in a live room and announce it.
-- uses: _publish, _groupbuy
-- KEYS[1..5] the group's keys (named in _groupbuy.lua)   KEYS[6] room hash
-- KEYS[7] the room's group buys (zset, by start)   KEYS[8] room seq counter
-- KEYS[9] room event stream
-- ARGV[1] now (ms)   ARGV[2] room channel   ARGV[3] stream max length
-- ARGV[4..] field, value pairs of the group
-- Returns {1, seq} when started; {0, reason}: not_found (no room), room_not_live, or
-- conflict if the id exists.
local room_key = KEYS[6]
local groups_key = KEYS[7]
local seq_key = KEYS[8]
local events_key = KEYS[9]
local now = tonumber(ARGV[1])
local channel = ARGV[2]
local maxlen = ARGV[3]

local room_state = redis.call('HGET', room_key, 'state')
if not room_state then
  return {0, 'not_found'}
end
if room_state ~= 'live' then
  return {0, 'room_not_live'}
end
if redis.call('EXISTS', group_key) == 1 then
  return {0, 'conflict'}
end
local fields = {}
for i = 4, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', group_key, unpack(fields))
local g = read_group()
redis.call('ZADD', groups_key, now, g.id)
local event = {type = 'groupbuy.started', group = public(g)}
return {1, publish(seq_key, events_key, channel, maxlen, cmsgpack.pack(event))}
