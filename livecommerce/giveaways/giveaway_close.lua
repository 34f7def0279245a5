-- giveaway_close: close a giveaway's entries when its time is up, or end it if cancelled.
-- uses: _publish
-- KEYS[1] the giveaway's hash   KEYS[2] its entries   KEYS[3] its seed
-- KEYS[4] the room's running giveaway   KEYS[5] room seq counter   KEYS[6] room event stream
-- KEYS[7] the room's last ended giveaway (its id)
-- ARGV[1] reason: time_up or cancelled   ARGV[2] now (ms)   ARGV[3] room channel
-- ARGV[4] stream max length
-- Returns {2, seed, id...} when its entries are closed (now, or by a closer that died before
-- the draw: the draw is a function of these, so whoever draws next draws the same winner);
-- {1, seq} cancelled now (giveaway.ended published, seed revealed); {0, reason}: not_found,
-- already_ended, giveaway_not_active (a cancel after the entries closed), or not_due with
-- its ends_at.
local giveaway_key = KEYS[1]
local entries_key = KEYS[2]
local seed_key = KEYS[3]
local live_key = KEYS[4]
local seq_key = KEYS[5]
local events_key = KEYS[6]
local last_key = KEYS[7]
local reason = ARGV[1]
local now = tonumber(ARGV[2])
local channel = ARGV[3]
local maxlen = ARGV[4]

local g = redis.call('HMGET', giveaway_key, 'state', 'ends_at', 'id', 'entrants')
local state = g[1]
if not state then
  return {0, 'not_found'}
end
if state == 'ended' then
  return {0, 'already_ended'}
end
if reason == 'cancelled' then
  if state ~= 'active' then
    return {0, 'giveaway_not_active'}
  end
  local seed = redis.call('GET', seed_key)
  redis.call('HSET', giveaway_key, 'state', 'ended', 'end_reason', 'cancelled', 'ended_at', now)
  if redis.call('GET', live_key) == g[3] then
    redis.call('DEL', live_key)
  end
  redis.call('SET', last_key, g[3])
  local event = {type = 'giveaway.ended', giveaway_id = g[3], winner = cjson.null, seed = seed,
    entrants = tonumber(g[4]), reason = 'cancelled'}
  return {1, publish(seq_key, events_key, channel, maxlen, cmsgpack.pack(event))}
end
if state == 'active' then
  if now < tonumber(g[2]) then
    return {0, 'not_due', tonumber(g[2])}
  end
  redis.call('HSET', giveaway_key, 'state', 'drawing')
end
local out = {2, redis.call('GET', seed_key)}
for _, id in ipairs(redis.call('HKEYS', entries_key)) do
  out[#out + 1] = id
end
return out
