-- groupbuy_join: a person joins a group buy: one unit held for them, their join pending
-- until their card is authorised. One join per person and group; a retry with the same
-- Idempotency-Key (and the same body) gets the same join.
-- uses: _groupbuy
-- KEYS[1..5] the group's keys (named in _groupbuy.lua)
-- ARGV[1] user id   ARGV[2] the Idempotency-Key   ARGV[3] the body's fingerprint
-- ARGV[4] now (ms)   ARGV[5] the new join (JSON, state pending)
-- Returns {1, join JSON} joined now; {2, join JSON} the join this key made before;
-- {0, reason}: not_found, idempotency_key_reused, already_joined, forbidden (the host),
-- group_buy_not_open, sold_out.
local user = ARGV[1]
local key = ARGV[2]
local fp = ARGV[3]
local now = tonumber(ARGV[4])
local new = ARGV[5]

local g = read_group()
if not g then
  return {0, 'not_found'}
end
local earlier = redis.call('HGET', retry_key, user .. '|' .. key)
if earlier then
  local j = get_join(earlier)
  if j.fp ~= fp then
    return {0, 'idempotency_key_reused'}
  end
  return {2, cjson.encode(j)}
end
if redis.call('HEXISTS', users_key, user) == 1 then
  return {0, 'already_joined'}
end
if user == g.host_id then
  return {0, 'forbidden'}
end
if not joinable(g) or now >= g.ends_at then
  return {0, 'group_buy_not_open'}
end
if g.available < 1 then
  return {0, 'sold_out'}
end
local j = cjson.decode(new)
redis.call('HINCRBY', group_key, 'available', -1)
redis.call('HINCRBY', group_key, 'pending', 1)
redis.call('HSET', users_key, user, j.id, user .. ':last', j.id)
redis.call('HSET', retry_key, user .. '|' .. key, j.id)
return {1, put_join(j)}
