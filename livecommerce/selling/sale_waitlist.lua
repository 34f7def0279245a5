-- sale_waitlist: join (or leave) the waitlist of a sold-out sale.
-- uses: _sale
-- KEYS[1..7] the sale's keys (see _sale.lua)
-- ARGV[1] user id   ARGV[2] quantity wanted (0 to leave)   ARGV[3] now (ms)
-- Returns {status, reason or position}: 1 and the 1-based position when on the list;
-- 2 when left; 0 and a reason (not_found, sale_not_active, limit_exceeded, not_sold_out).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0, 'not_found'}
end
local user, wanted = ARGV[1], tonumber(ARGV[2])
if wanted == 0 then
  redis.call('ZREM', KEYS[5], user)
  redis.call('HDEL', KEYS[6], user)
  return {2, 0}
end
local sale = redis.call('HMGET', KEYS[1], 'state', 'available', 'per_user_limit', 'ends_at')
if sale[1] ~= 'active' or tonumber(ARGV[3]) >= tonumber(sale[4]) then
  return {0, 'sale_not_active'}
end
if tonumber(sale[2]) > 0 then
  return {0, 'not_sold_out'}
end
local h, b = counts(user)
if h + b + wanted > tonumber(sale[3]) then
  return {0, 'limit_exceeded'}
end
if not redis.call('ZSCORE', KEYS[5], user) then
  local n = redis.call('HINCRBY', KEYS[1], 'waitlist_seq', 1)
  redis.call('ZADD', KEYS[5], n, user)
end
redis.call('HSET', KEYS[6], user, wanted)
return {1, redis.call('ZRANK', KEYS[5], user) + 1}
