-- sale_start: open a flash sale in a live room and announce it.
-- uses: _publish
-- KEYS[1] the sale hash   KEYS[2] room hash   KEYS[3] room's sales zset
-- KEYS[4] room seq counter   KEYS[5] room event stream
-- ARGV[1] now (ms)   ARGV[2] room channel   ARGV[3] stream max length
-- ARGV[4] sale.started payload (MessagePack)   ARGV[5..] field, value pairs of the sale
-- Returns {1, seq} when started; {0, reason}: room_not_live, or conflict if the id exists.
local sale_key = KEYS[1]
local room_key = KEYS[2]
local sales_key = KEYS[3]
local seq_key = KEYS[4]
local events_key = KEYS[5]
local now = tonumber(ARGV[1])
local channel = ARGV[2]
local maxlen = ARGV[3]
local payload = ARGV[4]

if redis.call('HGET', room_key, 'state') ~= 'live' then
  return {0, 'room_not_live'}
end
if redis.call('EXISTS', sale_key) == 1 then
  return {0, 'conflict'}
end
local fields = {}
for i = 5, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', sale_key, unpack(fields))
redis.call('ZADD', sales_key, now, redis.call('HGET', sale_key, 'id'))
return {1, publish(seq_key, events_key, channel, maxlen, payload)}
