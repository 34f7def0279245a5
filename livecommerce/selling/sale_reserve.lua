-- sale_reserve: hold units of a flash sale for a batch of buyers, each told exactly why not.
-- uses: _sale, _gcra
-- A process sends every reserve for one sale that arrived while its last call was in flight
-- as one batch: the requests run in order, as if each were its own call.
-- KEYS[1..7] the sale's keys (named in _sale.lua)   KEYS[8] idempotency hash ("<user>|<key>" -> hold id)
-- KEYS[8 + i] request i's per-account reserve rate key (GCRA, _gcra.lua)
-- ARGV[1] now (ms)   ARGV[2] rate interval (ms per reserve; 0: no limit)   ARGV[3] rate burst
-- ARGV[4] most holds one person may have at once across the room's sales (0: no cap)
-- then four per request: user id, quantity (>= 1), idempotency key ('' for none), new hold id
-- Returns {available, held, sold, {offers...}, {status, hold JSON or reason, ...}}, the stock
-- after the batch, the holds offered to the waitlist, and a status and value per request:
--   status 1: a new hold; 2: the hold this key made before (a retry or a double click);
--   0: refused, reason one of not_found, sale_not_active, limit_exceeded, sold_out,
--   too_many_holds (the room-wide cap), or
--   'rate_limited:<retry after ms>' for an account reserving faster than its limit.
-- Expired holds are reaped first, so "sold out" never counts a hold whose time is up.
local idempotency_key = KEYS[8]
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])

local results = {}
if redis.call('EXISTS', sale_key) == 0 then
  for i = 5, #ARGV, 4 do
    results[#results + 1] = 0
    results[#results + 1] = 'not_found'
  end
  return {0, 0, 0, {}, results}
end
local offers = reap(now, 100)
local sale = redis.call('HMGET', sale_key, 'state', 'starts_at', 'ends_at', 'per_user_limit', 'hold_ms', 'id')
local active = sale[1] == 'active' and now >= tonumber(sale[2]) and now < tonumber(sale[3])
local limit, hold_ms, sale_id = tonumber(sale[4]), tonumber(sale[5]), sale[6]
local available = tonumber(redis.call('HGET', sale_key, 'available'))
local taken = 0

local function reserve(user, quantity, key, hold_id, rate_key)
  local wait = interval > 0 and gcra(rate_key, now, interval, burst)
  if wait then
    return 0, 'rate_limited:' .. wait
  end
  if key ~= '' then
    local previous = redis.call('HGET', idempotency_key, user .. '|' .. key)
    if previous then
      return 2, redis.call('HGET', holds_key, previous)
    end
  end
  if not active then
    return 0, 'sale_not_active'
  end
  local h, b = counts(user)
  if h + b + quantity > limit then
    return 0, 'limit_exceeded'
  end
  if available < quantity then
    return 0, 'sold_out'
  end
  if cap > 0 and tonumber(redis.call('HGET', room_holds_key, user) or '0') >= cap then
    return 0, 'too_many_holds'
  end
  local hold = {
    id = hold_id, sale_id = sale_id, user_id = user, quantity = quantity,
    expires_at = now + hold_ms, state = 'held', created_at = now, key = key,
    from_waitlist = false,
  }
  local encoded = cjson.encode(hold)
  redis.call('HSET', holds_key, hold_id, encoded)
  redis.call('ZADD', expiry_key, hold.expires_at, hold_id)
  redis.call('HINCRBY', users_key, user .. ':h', quantity)
  hold_opened(user, hold_id)
  redis.call('HINCRBY', room_holds_key, user, 1)
  available = available - quantity
  taken = taken + quantity
  if key ~= '' then
    redis.call('HSET', idempotency_key, user .. '|' .. key, hold_id)
  end
  return 1, encoded
end

for i = 5, #ARGV, 4 do
  local n = (i - 5) / 4 + 1
  local status, value = reserve(ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3], KEYS[8 + n])
  results[#results + 1] = status
  results[#results + 1] = value
end
if taken > 0 then
  redis.call('HINCRBY', sale_key, 'available', -taken)
  redis.call('HINCRBY', sale_key, 'held', taken)
end
local s = stock()
return {s[1], s[2], s[3], offers, results}
