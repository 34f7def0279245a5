-- Shared prelude of the sale scripts (prepended after the publish prelude).
-- Key order used by every sale script:
--   KEYS[1] sale hash       KEYS[2] hold expiry zset   KEYS[3] holds hash (id -> JSON)
--   KEYS[4] per-user counts hash ("<user>:h" held, "<user>:b" bought, "<user>:o" the ids of
--           their open holds, space-separated, so a joining buyer's holds are found by id)
--   KEYS[5] waitlist zset (user -> arrival)   KEYS[6] waitlist quantities hash
--   KEYS[7] the room's holds per person, across all its sales (user -> holds held)
-- They are named below (sale_key ... room_holds_key), and the sale scripts use those names.
-- give_back(now, hold) returns a hold's units: first to the waitlist, in arrival order, as
-- holds of their own; the rest to available. Returns the list of offered holds (JSON).
local sale_key = KEYS[1]
local expiry_key = KEYS[2]
local holds_key = KEYS[3]
local users_key = KEYS[4]
local waitlist_key = KEYS[5]
local wanted_key = KEYS[6]
local room_holds_key = KEYS[7]

local function counts(user)
  local h = tonumber(redis.call('HGET', users_key, user .. ':h') or '0')
  local b = tonumber(redis.call('HGET', users_key, user .. ':b') or '0')
  return h, b
end

-- hold_opened(user, id) / hold_closed(user, id): keep "<user>:o" to the person's held holds.
-- The list is short: every hold takes a unit, and no one holds more than the per-user limit.
local function hold_opened(user, id)
  local field = user .. ':o'
  local ids = redis.call('HGET', users_key, field)
  redis.call('HSET', users_key, field, ids and (ids .. ' ' .. id) or id)
end

local function hold_closed(user, id)
  local field = user .. ':o'
  local ids = redis.call('HGET', users_key, field)
  if not ids then
    return
  end
  local kept = {}
  for one in string.gmatch(ids, '%S+') do
    if one ~= id then
      kept[#kept + 1] = one
    end
  end
  if #kept == 0 then
    redis.call('HDEL', users_key, field)
  else
    redis.call('HSET', users_key, field, table.concat(kept, ' '))
  end
end

-- room_hold_ended(user): one hold fewer for this person in the room (the key goes at 0).
local function room_hold_ended(user)
  if redis.call('HINCRBY', room_holds_key, user, -1) <= 0 then
    redis.call('HDEL', room_holds_key, user)
  end
end

local function give_back(now, units)
  local offered = {}
  local limit = tonumber(redis.call('HGET', sale_key, 'per_user_limit'))
  local hold_ms = tonumber(redis.call('HGET', sale_key, 'hold_ms'))
  local sale_id = redis.call('HGET', sale_key, 'id')
  local active = redis.call('HGET', sale_key, 'state') == 'active'
  while units > 0 and active do
    local first = redis.call('ZPOPMIN', waitlist_key)
    if #first == 0 then
      break
    end
    local user = first[1]
    local wanted = tonumber(redis.call('HGET', wanted_key, user) or '1')
    redis.call('HDEL', wanted_key, user)
    local h, b = counts(user)
    local q = math.min(wanted, units, limit - h - b)
    if q > 0 then
      local n = redis.call('HINCRBY', sale_key, 'offer_seq', 1)
      local hold = {
        id = sale_id .. '.w' .. n, sale_id = sale_id, user_id = user, quantity = q,
        expires_at = now + hold_ms, state = 'held', created_at = now, key = '', from_waitlist = true,
      }
      local encoded = cjson.encode(hold)
      redis.call('HSET', holds_key, hold.id, encoded)
      redis.call('ZADD', expiry_key, hold.expires_at, hold.id)
      redis.call('HINCRBY', users_key, user .. ':h', q)
      hold_opened(user, hold.id)
      redis.call('HINCRBY', room_holds_key, user, 1)
      redis.call('HINCRBY', sale_key, 'held', q)
      units = units - q
      offered[#offered + 1] = encoded
    end
  end
  if units > 0 then
    redis.call('HINCRBY', sale_key, 'available', units)
  end
  return offered
end

-- end_hold(hold, state, now): a held hold becomes released or expired; its units go back once.
local function end_hold(hold, state, now)
  hold.state = state
  hold.ended_at = now
  redis.call('HSET', holds_key, hold.id, cjson.encode(hold))
  redis.call('ZREM', expiry_key, hold.id)
  redis.call('HINCRBY', users_key, hold.user_id .. ':h', -hold.quantity)
  hold_closed(hold.user_id, hold.id)
  room_hold_ended(hold.user_id)
  redis.call('HINCRBY', sale_key, 'held', -hold.quantity)
  return give_back(now, hold.quantity)
end

-- reap(now, max): expire up to max holds whose time is up; the offers they made.
local function reap(now, max)
  local offered = {}
  local due = redis.call('ZRANGEBYSCORE', expiry_key, '-inf', now, 'LIMIT', 0, max)
  for _, id in ipairs(due) do
    local raw = redis.call('HGET', holds_key, id)
    if raw then
      local hold = cjson.decode(raw)
      if hold.state == 'held' then
        for _, offer in ipairs(end_hold(hold, 'expired', now)) do
          offered[#offered + 1] = offer
        end
      else
        redis.call('ZREM', expiry_key, id)
      end
    else
      redis.call('ZREM', expiry_key, id)
    end
  end
  return offered
end

local function stock()
  return redis.call('HMGET', sale_key, 'available', 'held', 'sold')
end
