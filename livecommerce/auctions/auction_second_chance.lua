-- auction_second_chance: after the winner's order lapsed, offer the lot to the runner-up at
-- their max, once, as an order of their own awaiting payment.
-- uses: _auction
-- KEYS[1..4] the lot's keys (named in _auction.lua)   KEYS[5] the lapsed order's key
-- KEYS[6] the new order's key   KEYS[7] the room's orders (zset)
-- ARGV[1] now (ms)   ARGV[2] the new order's id   ARGV[3] how long they have to pay (ms)
-- Returns {1, order JSON}; {0, reason}: not_found, not_lapsed (the winner's order is not
-- lapsed), no_runner_up, or offered (a second chance was offered already).
local first_key = KEYS[5]
local order_key = KEYS[6]
local orders_key = KEYS[7]
local now = tonumber(ARGV[1])
local order_id = ARGV[2]
local pay_ms = tonumber(ARGV[3])

local lot = read_lot()
if not lot or lot.order_id == '' then
  return {0, 'not_found'}
end
if redis.call('HGET', lot_key, 'second_chance') then
  return {0, 'offered'}
end
local first = redis.call('GET', first_key)
if not first or cjson.decode(first).state ~= 'lapsed' then
  return {0, 'not_lapsed'}
end
if lot.runner_up == '' then
  return {0, 'no_runner_up'}
end
local order = write_order(order_key, orders_key, lot, order_id, lot.runner_up,
  lot.runner_up_name, lot.runner_up_max, now, pay_ms, true)
redis.call('HSET', lot_key, 'second_chance', order_id)
return {1, order}
