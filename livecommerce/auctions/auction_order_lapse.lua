-- auction_order_lapse: an order still awaiting payment past its pay_by lapses, once.
-- KEYS[1] the order's key
-- ARGV[1] now (ms)
-- Returns {1, order JSON} lapsed now; {0, state} otherwise: not_found, not_due (with pay_by),
-- or the state it is in (paid, lapsed).
local order_key = KEYS[1]
local now = tonumber(ARGV[1])

local raw = redis.call('GET', order_key)
if not raw then
  return {0, 'not_found'}
end
local order = cjson.decode(raw)
if order.state ~= 'awaiting_payment' then
  return {0, order.state}
end
if now < order.pay_by then
  return {0, 'not_due', order.pay_by}
end
order.state = 'lapsed'
order.lapsed_at = now
raw = cjson.encode(order)
redis.call('SET', order_key, raw)
return {1, raw}
