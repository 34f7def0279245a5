-- giveaway_lapse: a prize still awaiting its address past claim_by lapses, once.
-- KEYS[1] the order's key
-- ARGV[1] now (ms)
-- Returns {1, order JSON} lapsed now; {0, state} otherwise: not_found, not_due (with
-- claim_by), or the state it is in (paid, lapsed).
local order_key = KEYS[1]
local now = tonumber(ARGV[1])

local raw = redis.call('GET', order_key)
if not raw then
  return {0, 'not_found'}
end
local order = cjson.decode(raw)
if order.state ~= 'awaiting_address' then
  return {0, order.state}
end
if now < order.claim_by then
  return {0, 'not_due', order.claim_by}
end
order.state = 'lapsed'
order.lapsed_at = now
raw = cjson.encode(order)
redis.call('SET', order_key, raw)
return {1, raw}
