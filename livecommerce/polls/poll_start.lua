-- poll_start: open a poll in a live room, if none is running, and announce it.
-- uses: _publish
-- KEYS[1] the poll's hash   KEYS[2] room hash   KEYS[3] the room's running poll (its id)
-- KEYS[4] the room's polls (zset by start)   KEYS[5] room seq counter   KEYS[6] room events
-- ARGV[1] now (ms)   ARGV[2] room channel   ARGV[3] stream max length
-- ARGV[4..] the poll's fields as name, value pairs (rules.Poll.to_hash)
-- Returns {1, seq, ends_at} when started; {0, reason}: room_not_live, or busy:<id> while
-- another poll of the room runs. A quiz's answer is stored, never published here.
local poll_key = KEYS[1]
local room_key = KEYS[2]
local live_key = KEYS[3]
local polls_key = KEYS[4]
local seq_key = KEYS[5]
local events_key = KEYS[6]
local now = tonumber(ARGV[1])
local channel = ARGV[2]
local maxlen = ARGV[3]
local fields = {unpack(ARGV, 4)}

if redis.call('HGET', room_key, 'state') ~= 'live' then
  return {0, 'room_not_live'}
end
local busy = redis.call('GET', live_key)
if busy then
  return {0, 'busy:' .. busy}
end
local poll = {}
for i = 1, #fields, 2 do
  poll[fields[i]] = fields[i + 1]
end
local ends_at = now + tonumber(poll.duration_s) * 1000
redis.call('HSET', poll_key, 'state', 'active', 'starts_at', now, 'ends_at', ends_at,
  unpack(fields))
redis.call('SET', live_key, poll.id)
redis.call('ZADD', polls_key, now, poll.id)
local event = {type = 'poll.started', poll = {
  id = poll.id, question = poll.question, options = cjson.decode(poll.options),
  kind = poll.kind, starts_at = now, ends_at = ends_at, state = 'active',
}}
return {1, publish(seq_key, events_key, channel, maxlen, cmsgpack.pack(event)), ends_at}
