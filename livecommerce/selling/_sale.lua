-- Shared prelude of the sale scripts (prepended after the publish prelude).
-- Key order used by every sale script:
--   KEYS[1] sale hash       KEYS[2] hold expiry zset   KEYS[3] holds hash (id -> JSON)
--   KEYS[4] per-user counts hash ("<user>:h" held, "<user>:b" bought, "<user>:o" the ids of
--           their open holds, space-separated, so a joining buyer's holds are found by id)
--   KEYS[5] waitlist zset (user -> arrival)   KEYS[6] waitlist quantities hash
--   KEYS[7] the room's holds per person, across all its sales (user -> holds held)
-- give_back(now, hold) returns a hold's units: first to the waitlist, in arrival order, as
-- holds of their own; the rest to available. Returns the list of offered holds (JSON).
local function counts(user)
  local h = tonumber(redis.call('HGET', KEYS[4], user .. ':h') or '0')
  local b = tonumber(redis.call('HGET', KEYS[4], user .. ':b') or '0')
  return h, b
end

-- hold_opened(user, id) / hold_closed(user, id): keep "<user>:o" to the person's held holds.
-- The list is short: every hold takes a unit, and no one holds more than the per-user limit.
local function hold_opened(user, id)
  local field = user .. ':o'
  local ids = redis.call('HGET', KEYS[4], field)
  redis.call('HSET', KEYS[4], field, ids and (ids .. ' ' .. id) or id)
end

local function hold_closed(user, id)
  local field = user .. ':o'
  local ids = redis.call('HGET', KEYS[4], field)
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
    redis.call('HDEL', KEYS[4], field)
  else
    redis.call('HSET', KEYS[4], field, table.concat(kept, ' '))
  end
end

-- room_hold_ended(user): one hold fewer for this person in the room (the key goes at 0).
local function room_hold_ended(user)
  if redis.call('HINCRBY', KEYS[7], user, -1) <= 0 then
    redis.call('HDEL', KEYS[7], user)
  end
end

local function give_back(now, units)
  local offered = {}
  local limit = tonumber(redis.call('HGET', KEYS[1], 'per_user_limit'))
  local hold_ms = tonumber(redis.call('HGET', KEYS[1], 'hold_ms'))
  local sale_id = redis.call('HGET', KEYS[1], 'id')
  local active = redis.call('HGET', KEYS[1], 'state') == 'active'
  while units > 0 and active do
    local first = redis.call('ZPOPMIN', KEYS[5])
    if #first == 0 then
      break
    end
    local user = first[1]
    local wanted = tonumber(redis.call('HGET', KEYS[6], user) or '1')
    redis.call('HDEL', KEYS[6], user)
    local h, b = counts(user)
    local q = math.min(wanted, units, limit - h - b)
    if q > 0 then
      local n = redis.call('HINCRBY', KEYS[1], 'offer_seq', 1)
      local hold = {
        id = sale_id .. '.w' .. n, sale_id = sale_id, user_id = user, quantity = q,
        expires_at = now + hold_ms, state = 'held', created_at = now, key = '', from_waitlist = true,
      }
      local encoded = cjson.encode(hold)
      redis.call('HSET', KEYS[3], hold.id, encoded)
      redis.call('ZADD', KEYS[2], hold.expires_at, hold.id)
      redis.call('HINCRBY', KEYS[4], user .. ':h', q)
      hold_opened(user, hold.id)
      redis.call('HINCRBY', KEYS[7], user, 1)
      redis.call('HINCRBY', KEYS[1], 'held', q)
      units = units - q
      offered[#offered + 1] = encoded
    end
  end
  if units > 0 then
    redis.call('HINCRBY', KEYS[1], 'available', units)
  end
  return offered
end

-- end_hold(hold, state, now): a held hold becomes released or expired; its units go back once.
local function end_hold(hold, state, now)
  hold.state = state
  hold.ended_at = now
  redis.call('HSET', KEYS[3], hold.id, cjson.encode(hold))
  redis.call('ZREM', KEYS[2], hold.id)
  redis.call('HINCRBY', KEYS[4], hold.user_id .. ':h', -hold.quantity)
  hold_closed(hold.user_id, hold.id)
  room_hold_ended(hold.user_id)
  redis.call('HINCRBY', KEYS[1], 'held', -hold.quantity)
  return give_back(now, hold.quantity)
end

-- reap(now, max): expire up to max holds whose time is up; the offers they made.
local function reap(now, max)
  local offered = {}
  local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, max)
  for _, id in ipairs(due) do
    local raw = redis.call('HGET', KEYS[3], id)
    if raw then
      local hold = cjson.decode(raw)
      if hold.state == 'held' then
        for _, offer in ipairs(end_hold(hold, 'expired', now)) do
          offered[#offered + 1] = offer
        end
      else
        redis.call('ZREM', KEYS[2], id)
      end
    else
      redis.call('ZREM', KEYS[2], id)
    end
  end
  return offered
end

local function stock()
  return redis.call('HMGET', KEYS[1], 'available', 'held', 'sold')
end
