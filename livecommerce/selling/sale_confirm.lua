-- sale_confirm: a paid hold becomes sold and its order is written, exactly once.
-- uses: _publish, _sale
-- KEYS[1..7] the sale's keys (see _sale.lua)   KEYS[8] the new order's hash
-- KEYS[9] the room's orders zset   KEYS[10] room seq counter   KEYS[11] room event stream
-- ARGV[1] hold id   ARGV[2] buyer id   ARGV[3] now (ms)   ARGV[4] order id
-- ARGV[5] order JSON   ARGV[6] room channel   ARGV[7] stream max length
-- ARGV[8] sale.ended event payload (MessagePack), published if this sells the last unit
-- Returns {status, order id or reason, available, held, sold, sale ended (0/1), seq}:
--   1 confirmed now; 2 confirmed before (the same order: retries never make two);
--   0 refused, reason not_found, forbidden, hold_released or hold_expired.
local raw = redis.call('HGET', KEYS[3], ARGV[1])
if not raw then
  return {0, 'not_found', 0, 0, 0, 0, 0}
end
local hold = cjson.decode(raw)
if hold.user_id ~= ARGV[2] then
  return {0, 'forbidden', 0, 0, 0, 0, 0}
end
local now = tonumber(ARGV[3])
local s = stock()
if hold.state == 'confirmed' then
  return {2, hold.order_id, s[1], s[2], s[3], 0, 0}
end
if hold.state ~= 'held' then
  return {0, 'hold_' .. hold.state, s[1], s[2], s[3], 0, 0}
end
if hold.expires_at <= now then
  end_hold(hold, 'expired', now)
  s = stock()
  return {0, 'hold_expired', s[1], s[2], s[3], 0, 0}
end
hold.state = 'confirmed'
hold.order_id = ARGV[4]
hold.confirmed_at = now
redis.call('HSET', KEYS[3], hold.id, cjson.encode(hold))
redis.call('ZREM', KEYS[2], hold.id)
redis.call('HINCRBY', KEYS[4], hold.user_id .. ':h', -hold.quantity)
redis.call('HINCRBY', KEYS[4], hold.user_id .. ':b', hold.quantity)
hold_closed(hold.user_id, hold.id)
room_hold_ended(hold.user_id)
redis.call('HINCRBY', KEYS[1], 'held', -hold.quantity)
local sold = redis.call('HINCRBY', KEYS[1], 'sold', hold.quantity)
redis.call('SET', KEYS[8], ARGV[5])
redis.call('ZADD', KEYS[9], now, ARGV[4])
local ended, seq = 0, 0
if sold >= tonumber(redis.call('HGET', KEYS[1], 'units')) and redis.call('HGET', KEYS[1], 'state') == 'active' then
  redis.call('HSET', KEYS[1], 'state', 'ended', 'end_reason', 'sold_out', 'ended_at', now)
  ended = 1
  seq = publish(KEYS[10], KEYS[11], ARGV[6], ARGV[7], ARGV[8])
end
s = stock()
return {1, ARGV[4], s[1], s[2], s[3], ended, seq}
