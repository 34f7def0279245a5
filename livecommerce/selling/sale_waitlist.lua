-- sale_waitlist: join (or leave) the waitlist of a sold-out sale.
-- uses: _sale
-- KEYS[1..7] the sale's keys (named in _sale.lua)
-- ARGV[1] user id   ARGV[2] quantity wanted (0 to leave)   ARGV[3] now (ms)
-- Returns {status, reason or position}: 1 and the 1-based position when on the list;
-- 2 when left; 0 and a reason (not_found, sale_not_active, limit_exceeded, not_sold_out).
local user = ARGV[1]
local wanted = tonumber(ARGV[2])
local now = tonumber(ARGV[3])

if redis.call('EXISTS', sale_key) == 0 then
  return {0, 'not_found'}
end
if wanted == 0 then
  redis.call('ZREM', waitlist_key, user)
  redis.call('HDEL', wanted_key, user)
  return {2, 0}
end
local sale = redis.call('HMGET', sale_key, 'state', 'available', 'per_user_limit', 'ends_at')
if sale[1] ~= 'active' or now >= tonumber(sale[4]) then
  return {0, 'sale_not_active'}
end
if tonumber(sale[2]) > 0 then
  return {0, 'not_sold_out'}
end
local h, b = counts(user)
if h + b + wanted > tonumber(sale[3]) then
  return {0, 'limit_exceeded'}
end
if not redis.call('ZSCORE', waitlist_key, user) then
  local n = redis.call('HINCRBY', sale_key, 'waitlist_seq', 1)
  redis.call('ZADD', waitlist_key, n, user)
end
redis.call('HSET', wanted_key, user, wanted)
return {1, redis.call('ZRANK', waitlist_key, user) + 1}
