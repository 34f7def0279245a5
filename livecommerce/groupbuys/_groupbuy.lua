-- Shared prelude of the group buy scripts (prepended after the publish prelude).
-- Key order used by every group buy script:
--   KEYS[1] the group's hash   KEYS[2] its joins (join id -> JSON)
--   KEYS[3] each joiner's live join (user -> join id; gone once the join lets its unit go)
--           and their latest ("<user>:last" -> join id)
--   KEYS[4] retry keys ("<user>|<Idempotency-Key>" -> join id)
--   KEYS[5] the work list: joins not yet settled and told (set of join ids)
-- They are named below (group_key ... todo_key), and the group buy scripts use those names.
-- The states and their moves are livecommerce/groupbuys/rules.py's; a change here is one there.
--   read_group() -> the group as a table (numbers as numbers), or nil
--   public(g) -> the group as the protocol shows it (docs/protocol.md, Group buys)
--   get_join(id) / put_join(j): a join's JSON; put_join keeps the work list in step
--   let_go(j, state): the join ends without a sale; its unit is available again
local group_key = KEYS[1]
local joins_key = KEYS[2]
local users_key = KEYS[3]
local retry_key = KEYS[4]
local todo_key = KEYS[5]

local GROUP_NUMBERS = {
  'price', 'list_price', 'min_buyers', 'units', 'duration_s', 'starts_at', 'ends_at',
  'available', 'pending', 'authorised', 'captured', 'filled_at', 'ended_at', 'returned',
}

local function read_group()
  local flat = redis.call('HGETALL', group_key)
  if #flat == 0 then
    return nil
  end
  local g = {}
  for i = 1, #flat, 2 do
    g[flat[i]] = flat[i + 1]
  end
  for _, name in ipairs(GROUP_NUMBERS) do
    g[name] = tonumber(g[name]) or 0
  end
  return g
end

local function joinable(g)
  return g.state == 'open' or g.state == 'filled'
end

local function public(g)
  local out = cjson.decode(g.card)
  out.state = g.state
  out.joined = g.authorised + g.captured
  out.units_left = g.available
  out.filled_at = g.filled_at > 0 and g.filled_at or cjson.null
  out.end_reason = (g.end_reason and g.end_reason ~= '') and g.end_reason or cjson.null
  out.ended_at = g.ended_at > 0 and g.ended_at or cjson.null
  return out
end

local function get_join(id)
  local raw = redis.call('HGET', joins_key, id)
  if not raw then
    return nil
  end
  return cjson.decode(raw)
end

local SETTLED = {captured = true, capture_failed = true, voided = true, declined = true,
  cancelled = true}

local function put_join(j)
  local encoded = cjson.encode(j)
  redis.call('HSET', joins_key, j.id, encoded)
  if SETTLED[j.state] and j.told == 1 then
    redis.call('SREM', todo_key, j.id)
  else
    redis.call('SADD', todo_key, j.id)
  end
  return encoded
end

local function let_go(j, state)
  redis.call('HINCRBY', group_key, j.state, -1)
  redis.call('HINCRBY', group_key, 'available', 1)
  if redis.call('HGET', users_key, j.user_id) == j.id then
    redis.call('HDEL', users_key, j.user_id)
  end
  j.state = state
end
