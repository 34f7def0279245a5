-- auction_start: open a queued lot's bidding, with the pre-bids it already has.
-- uses: _publish, _auction
-- KEYS[1..4] the lot's keys (named in _auction.lua)   KEYS[5] room hash
-- KEYS[6] the room's active lot (its id)   KEYS[7] room seq counter   KEYS[8] room event stream
-- ARGV[1] now (ms)   ARGV[2] room channel   ARGV[3] stream max length   ARGV[4] increments
-- Returns {1, seq, ends_at} when started; {0, reason}: not_found, room_not_live,
-- auction_not_active (not queued), or busy:<id> while another lot of the room is active.
local room_key = KEYS[5]
local live_key = KEYS[6]
local seq_key = KEYS[7]
local events_key = KEYS[8]
local now = tonumber(ARGV[1])
local channel = ARGV[2]
local maxlen = ARGV[3]
local b = bands(ARGV[4])

local lot = read_lot()
if not lot then
  return {0, 'not_found'}
end
if redis.call('HGET', room_key, 'state') ~= 'live' then
  return {0, 'room_not_live'}
end
if lot.state ~= 'queued' then
  return {0, 'auction_not_active'}
end
local busy = redis.call('GET', live_key)
if busy then
  return {0, 'busy:' .. busy}
end
lot.state = 'active'
lot.starts_at = now
lot.ends_at = now + lot.duration_s * 1000
write_lot(lot)
redis.call('SET', live_key, lot.id)
local event = {type = 'auction.started', auction = public(lot, b)}
return {1, publish(seq_key, events_key, channel, maxlen, cmsgpack.pack(event)), lot.ends_at}
