-- room_end: end a show and every sale still running in it, in one atomic step.
-- uses: _publish, _room
-- No reserve can land after the show has ended: sale_reserve.lua refuses a sale that is not
-- active, and the sales stop in the same step as the room.
-- KEYS[1] room hash   KEYS[2] seq counter   KEYS[3] event stream   KEYS[4] the room's sales zset
-- KEYS[5..] the hashes of the sales the caller saw active (the others have ended for good)
-- ARGV[1] channel   ARGV[2] stream max length   ARGV[3] expected state   ARGV[4] now (ms)
-- ARGV[5] room.state payload (MessagePack)   ARGV[6] how many sales the caller saw in the zset
-- ARGV[7..] one sale.ended payload (MessagePack) per sale key, in the same order
-- Returns {1, room seq, ended sale ids...}; {0, current state} when the room is not in the
-- expected state; {-1, ''} when it does not exist; {-2, ''} when a sale started since the
-- caller looked (read again and retry).
local room_key = KEYS[1]
local seq_key = KEYS[2]
local events_key = KEYS[3]
local sales_key = KEYS[4]
local channel = ARGV[1]
local maxlen = ARGV[2]
local expected = ARGV[3]
local now = ARGV[4]
local payload = ARGV[5]
local sales_seen = tonumber(ARGV[6])

local refused = room_refusal(room_key, expected)
if refused then
  return refused
end
if redis.call('ZCARD', sales_key) ~= sales_seen then
  return {-2, ''}
end
local ended = {}
for i = 5, #KEYS do
  local sale = KEYS[i]
  if redis.call('HGET', sale, 'state') == 'active' then
    redis.call('HSET', sale, 'state', 'ended', 'end_reason', 'stopped', 'ended_at', now)
    publish(seq_key, events_key, channel, maxlen, ARGV[i + 2])
    ended[#ended + 1] = redis.call('HGET', sale, 'id')
  end
end
redis.call('HSET', room_key, 'state', 'ended', 'ended_at', now)
local seq = publish(seq_key, events_key, channel, maxlen, payload)
local result = {1, seq}
for _, id in ipairs(ended) do
  result[#result + 1] = id
end
return result
