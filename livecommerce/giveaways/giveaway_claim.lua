-- giveaway_claim: the winner gives the prize's shipping address, once, if still in time; the
-- zero-price order is then paid (nothing is charged).
-- KEYS[1] the order's key
-- ARGV[1] now (ms)   ARGV[2] the winner's id   ARGV[3] shipping (JSON)
-- Returns {1, order JSON} claimed now; {2, order JSON} claimed before; {0, reason}:
-- not_found, forbidden (another person's), order_lapsed (past claim_by, or lapsed), or
-- not_claimable (not a prize awaiting its address).
local order_key = KEYS[1]
local now = tonumber(ARGV[1])
local winner = ARGV[2]
local shipping = ARGV[3]

local raw = redis.call('GET', order_key)
if not raw then
  return {0, 'not_found'}
end
local order = cjson.decode(raw)
if order.buyer.id ~= winner then
  return {0, 'forbidden'}
end
if order.kind ~= 'giveaway' then
  return {0, 'not_claimable'}
end
if order.state == 'paid' then
  return {2, raw}
end
if order.state == 'lapsed' or now >= order.claim_by then
  return {0, 'order_lapsed'}
end
if order.state ~= 'awaiting_address' then
  return {0, 'not_claimable'}
end
order.state = 'paid'
order.shipping = cjson.decode(shipping)
order.paid_at = now
raw = cjson.encode(order)
redis.call('SET', order_key, raw)
return {1, raw}
