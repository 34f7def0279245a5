-- auction_order_pay: a lot's order awaiting payment becomes paid, once, if still in time.
-- KEYS[1] the order's key
-- ARGV[1] now (ms)   ARGV[2] the buyer   ARGV[3] shipping (JSON)   ARGV[4] payment (JSON)
-- Returns {1, order JSON} paid now; {2, order JSON} paid before (the caller compares the
-- payment ref: another charge paid it); {0, reason}: not_found, forbidden (another buyer's),
-- order_lapsed (past pay_by, or lapsed), or not_payable (not an order awaiting payment).
local order_key = KEYS[1]
local now = tonumber(ARGV[1])
local buyer = ARGV[2]
local shipping = ARGV[3]
local payment = ARGV[4]

local raw = redis.call('GET', order_key)
if not raw then
  return {0, 'not_found'}
end
local order = cjson.decode(raw)
if order.buyer.id ~= buyer then
  return {0, 'forbidden'}
end
if order.state == 'paid' then
  return {2, raw}
end
if order.state == 'lapsed' then
  return {0, 'order_lapsed'}
end
if order.state ~= 'awaiting_payment' then
  return {0, 'not_payable'}
end
if now >= order.pay_by then
  return {0, 'order_lapsed'}
end
order.state = 'paid'
order.shipping = cjson.decode(shipping)
order.payment = cjson.decode(payment)
order.paid_at = now
raw = cjson.encode(order)
redis.call('SET', order_key, raw)
return {1, raw}
