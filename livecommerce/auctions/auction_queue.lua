-- auction_queue: put a lot on a room's run sheet and announce it.
-- uses: _publish, _auction
-- KEYS[1..4] the lot's keys (named in _auction.lua)   KEYS[5] room hash
-- KEYS[6] the room's lots (zset, by place on the run sheet)   KEYS[7] room seq counter
-- KEYS[8] room event stream   KEYS[9] the room's open lots (zset, by place)
-- ARGV[1] now (ms)   ARGV[2] room channel   ARGV[3] stream max length
-- ARGV[4] increments (see bands in _auction.lua)   ARGV[5] most open lots a room may have
-- ARGV[6..] field, value pairs of the lot
-- Returns {1, seq} when queued; {0, reason}: not_found (no room), room_ended, full (the run
-- sheet has the most open lots it may), or conflict if the id exists.
local room_key = KEYS[5]
local lots_key = KEYS[6]
local seq_key = KEYS[7]
local events_key = KEYS[8]
local open_key = KEYS[9]
local now = tonumber(ARGV[1])
local channel = ARGV[2]
local maxlen = ARGV[3]
local b = bands(ARGV[4])
local most_open = tonumber(ARGV[5])

local room_state = redis.call('HGET', room_key, 'state')
if not room_state then
  return {0, 'not_found'}
end
if room_state == 'ended' then
  return {0, 'room_ended'}
end
if redis.call('EXISTS', lot_key) == 1 then
  return {0, 'conflict'}
end
if redis.call('ZCARD', open_key) >= most_open then
  return {0, 'full'}
end
local fields = {}
for i = 6, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', lot_key, unpack(fields))
local lot = read_lot()
local place = redis.call('ZCARD', lots_key) + 1 -- run-sheet order
redis.call('ZADD', lots_key, place, lot.id)
redis.call('ZADD', open_key, place, lot.id)
local event = {type = 'auction.queued', auction = public(lot, b)}
return {1, publish(seq_key, events_key, channel, maxlen, cmsgpack.pack(event))}
