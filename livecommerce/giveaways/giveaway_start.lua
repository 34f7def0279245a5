-- giveaway_start: open a giveaway's entries and publish its commitment (never its seed).
-- uses: _publish
-- KEYS[1] the giveaway's hash   KEYS[2] its entries (hash)   KEYS[3] its seed (hex string)
-- KEYS[4] room hash   KEYS[5] the room's running giveaway (its id)
-- KEYS[6] the room's giveaways (zset by start)   KEYS[7] room seq counter
-- KEYS[8] room event stream
-- ARGV[1] now (ms)   ARGV[2] room channel   ARGV[3] stream max length   ARGV[4] seed (hex)
-- ARGV[5..] field, value pairs of the giveaway (its card as JSON under 'card')
-- Returns {1, seq} when started; {0, reason}: not_found (no room), room_not_live, conflict
-- (the id exists), or busy:<id> while another giveaway of the room has not ended.
local giveaway_key = KEYS[1]
local seed_key = KEYS[3]
local room_key = KEYS[4]
local live_key = KEYS[5]
local list_key = KEYS[6]
local seq_key = KEYS[7]
local events_key = KEYS[8]
local now = tonumber(ARGV[1])
local channel = ARGV[2]
local maxlen = ARGV[3]
local seed = ARGV[4]

local room_state = redis.call('HGET', room_key, 'state')
if not room_state then
  return {0, 'not_found'}
end
if room_state ~= 'live' then
  return {0, 'room_not_live'}
end
local busy = redis.call('GET', live_key)
if busy then
  return {0, 'busy:' .. busy}
end
if redis.call('EXISTS', giveaway_key) == 1 then
  return {0, 'conflict'}
end
local fields = {}
for i = 5, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', giveaway_key, unpack(fields))
redis.call('SET', seed_key, seed)
redis.call('SET', live_key, redis.call('HGET', giveaway_key, 'id'))
redis.call('ZADD', list_key, now, redis.call('HGET', giveaway_key, 'id'))
local shown = cjson.decode(redis.call('HGET', giveaway_key, 'card'))
shown.state = 'active'
shown.entrants = 0
shown.result = cjson.null
local event = {type = 'giveaway.started', giveaway = shown}
return {1, publish(seq_key, events_key, channel, maxlen, cmsgpack.pack(event))}
