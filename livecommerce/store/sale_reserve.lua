-- sale_reserve: hold units of a flash sale for one buyer, or say exactly why not.
-- KEYS[1..6] the sale's keys (see _sale.lua)   KEYS[7] idempotency hash ("<user>|<key>" -> hold id)
-- ARGV[1] user id   ARGV[2] quantity (>= 1)   ARGV[3] idempotency key ('' for none)
-- ARGV[4] new hold id   ARGV[5] now (ms)
-- Returns {status, hold JSON or reason, available, held, sold, offers...}:
--   status 1: a new hold; 2: the hold this key made before (a retry or a double click);
--   0: refused, reason one of not_found, sale_not_active, limit_exceeded, sold_out.
-- Expired holds are reaped first, so "sold out" never counts a hold whose time is up.
local user, quantity, key, hold_id = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local now = tonumber(ARGV[5])
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0, 'not_found', 0, 0, 0}
end
if key ~= '' then
  local previous = redis.call('HGET', KEYS[7], user .. '|' .. key)
  if previous then
    local s = stock()
    return {2, redis.call('HGET', KEYS[3], previous), s[1], s[2], s[3]}
  end
end
local offers = reap(now, 100)
local function answer(status, value)
  local s = stock()
  local out = {status, value, s[1], s[2], s[3]}
  for _, offer in ipairs(offers) do
    out[#out + 1] = offer
  end
  return out
end
local sale = redis.call('HMGET', KEYS[1], 'state', 'starts_at', 'ends_at', 'per_user_limit', 'hold_ms', 'id')
if sale[1] ~= 'active' or now < tonumber(sale[2]) or now >= tonumber(sale[3]) then
  return answer(0, 'sale_not_active')
end
local h, b = counts(user)
if h + b + quantity > tonumber(sale[4]) then
  return answer(0, 'limit_exceeded')
end
if tonumber(redis.call('HGET', KEYS[1], 'available')) < quantity then
  return answer(0, 'sold_out')
end
local hold = {
  id = hold_id, sale_id = sale[6], user_id = user, quantity = quantity,
  expires_at = now + tonumber(sale[5]), state = 'held', created_at = now, key = key,
  from_waitlist = false,
}
local encoded = cjson.encode(hold)
redis.call('HSET', KEYS[3], hold_id, encoded)
redis.call('ZADD', KEYS[2], hold.expires_at, hold_id)
redis.call('HINCRBY', KEYS[4], user .. ':h', quantity)
redis.call('HINCRBY', KEYS[1], 'available', -quantity)
redis.call('HINCRBY', KEYS[1], 'held', quantity)
if key ~= '' then
  redis.call('HSET', KEYS[7], user .. '|' .. key, hold_id)
end
return answer(1, encoded)
