-- sale_start: open a flash sale in a live room and announce it.
-- uses: _publish
-- KEYS[1] the sale hash   KEYS[2] room hash   KEYS[3] room's sales zset
-- KEYS[4] room seq counter   KEYS[5] room event stream
-- ARGV[1] now (ms)   ARGV[2] room channel   ARGV[3] stream max length
-- ARGV[4] sale.started payload (MessagePack)   ARGV[5..] field, value pairs of the sale
-- Returns {1, seq} when started; {0, reason}: room_not_live, or conflict if the id exists.
if redis.call('HGET', KEYS[2], 'state') ~= 'live' then
  return {0, 'room_not_live'}
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, 'conflict'}
end
local fields = {}
for i = 5, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZADD', KEYS[3], tonumber(ARGV[1]), redis.call('HGET', KEYS[1], 'id'))
return {1, publish(KEYS[4], KEYS[5], ARGV[2], ARGV[3], ARGV[4])}
