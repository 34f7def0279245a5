-- sale_confirm: a paid hold becomes sold and its order is written, exactly once.
-- uses: _publish, _sale
-- KEYS[1..7] the sale's keys (named in _sale.lua)   KEYS[8] the new order's hash
-- KEYS[9] the room's orders zset   KEYS[10] room seq counter   KEYS[11] room event stream
-- ARGV[1] hold id   ARGV[2] buyer id   ARGV[3] now (ms)   ARGV[4] order id
-- ARGV[5] order JSON   ARGV[6] room channel   ARGV[7] stream max length
-- ARGV[8] sale.ended event payload (MessagePack), published if this sells the last unit
-- Returns {status, order id or reason, available, held, sold, sale ended (0/1), seq}:
--   1 confirmed now; 2 confirmed before (the same order: retries never make two);
--   0 refused, reason not_found, forbidden, hold_released or hold_expired.
local order_key = KEYS[8]
local orders_key = KEYS[9]
local seq_key = KEYS[10]
local events_key = KEYS[11]
local hold_id = ARGV[1]
local buyer_id = ARGV[2]
local now = tonumber(ARGV[3])
local order_id = ARGV[4]
local order = ARGV[5]
local channel = ARGV[6]
local maxlen = ARGV[7]
local ended_payload = ARGV[8]

local raw = redis.call('HGET', holds_key, hold_id)
if not raw then
  return {0, 'not_found', 0, 0, 0, 0, 0}
end
local hold = cjson.decode(raw)
if hold.user_id ~= buyer_id then
  return {0, 'forbidden', 0, 0, 0, 0, 0}
end
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
hold.order_id = order_id
hold.confirmed_at = now
redis.call('HSET', holds_key, hold.id, cjson.encode(hold))
redis.call('ZREM', expiry_key, hold.id)
redis.call('HINCRBY', users_key, hold.user_id .. ':h', -hold.quantity)
redis.call('HINCRBY', users_key, hold.user_id .. ':b', hold.quantity)
hold_closed(hold.user_id, hold.id)
room_hold_ended(hold.user_id)
redis.call('HINCRBY', sale_key, 'held', -hold.quantity)
local sold = redis.call('HINCRBY', sale_key, 'sold', hold.quantity)
redis.call('SET', order_key, order)
redis.call('ZADD', orders_key, now, order_id)
local ended, seq = 0, 0
if sold >= tonumber(redis.call('HGET', sale_key, 'units')) and redis.call('HGET', sale_key, 'state') == 'active' then
  redis.call('HSET', sale_key, 'state', 'ended', 'end_reason', 'sold_out', 'ended_at', now)
  ended = 1
  seq = publish(seq_key, events_key, channel, maxlen, ended_payload)
end
s = stock()
return {1, order_id, s[1], s[2], s[3], ended, seq}
