-- groupbuy_settle: an authorised join's end, as the provider answered: captured (its paid
-- order written in the same step), capture_failed or voided (its unit let go); left (the
-- joiner leaves a group that has not filled: voided now, its authorisation voided after);
-- or, for a join already settled, told (its joiner has heard; it leaves the work list).
-- uses: _groupbuy
-- KEYS[1..5] the group's keys (named in _groupbuy.lua)   KEYS[6] the order's key
-- KEYS[7] the room's orders zset
-- ARGV[1] join id   ARGV[2] outcome: captured, capture_failed, voided, left or told
-- ARGV[3] now (ms)   ARGV[4] order id   ARGV[5] order JSON (captured only)
-- Returns {status, join JSON}: 1 done now, 2 done before (the join's JSON says how);
-- 0 with reason not_found, not_filled (a capture before the group filled),
-- not_authorised (a capture or void of a join that was never authorised) or
-- group_buy_not_open (leaving a group that has filled or closed).
local order_key = KEYS[6]
local orders_key = KEYS[7]
local join_id = ARGV[1]
local outcome = ARGV[2]
local now = tonumber(ARGV[3])
local order_id = ARGV[4]
local order = ARGV[5]

local j = get_join(join_id)
if not j then
  return {0, 'not_found'}
end
if outcome == 'told' then
  if j.told == 1 or not SETTLED[j.state] then
    return {2, cjson.encode(j)}
  end
  j.told = 1
  return {1, put_join(j)}
end
if j.state ~= 'authorised' then
  if SETTLED[j.state] and j.state ~= 'declined' and j.state ~= 'cancelled' then
    return {2, cjson.encode(j)}
  end
  return {0, 'not_authorised'}
end
local g = read_group()
if outcome == 'left' then
  if g.state ~= 'open' or g.filled_at > 0 then
    return {0, 'group_buy_not_open'}
  end
  outcome = 'voided'
  j.left = 1
end
if outcome == 'captured' then
  if g.filled_at == 0 then
    return {0, 'not_filled'}
  end
  redis.call('HINCRBY', group_key, 'authorised', -1)
  redis.call('HINCRBY', group_key, 'captured', 1)
  j.state = 'captured'
  j.order_id = order_id
  j.settled_at = now
  redis.call('SET', order_key, order)
  redis.call('ZADD', orders_key, now, order_id)
  return {1, put_join(j)}
end
let_go(j, outcome)
j.settled_at = now
return {1, put_join(j)}
