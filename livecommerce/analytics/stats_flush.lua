-- stats_flush: one process's counts of one show for the last second, added if they belong.
-- uses: _presence
-- KEYS[1] room hash   KEYS[2] stats hash   KEYS[3] presence hash (field per process,
-- value "<audience sockets>:<expires ms>")   KEYS[4] viewers HLL   KEYS[5] chatters HLL
-- ARGV[1] process id   ARGV[2] now (ms)   ARGV[3] since (ms, the last flush)
-- ARGV[4] the most audience sockets here at once this second
-- ARGV[5] watch ms: 'e<ms>' already cut to the live window, '<ms>' spread evenly over
-- since..now (the store cuts it)
-- ARGV[6] views   ARGV[7] presence ttl (ms)   ARGV[8] n counters   ARGV[9] n product counters
-- ARGV[10] n viewers, then: n counters as name, amount; n product counters as
-- "<product id>|<name>", amount; n viewer ids; the rest chatter ids.
-- Only the live window counts: before Go live nothing is added; after the end only a flush
-- whose second began before it. Returns {1 if the show is live or was during this second,
-- the audience now over every process}.
local room_key = KEYS[1]
local stats_key = KEYS[2]
local presence_key = KEYS[3]
local viewers_key = KEYS[4]
local chatters_key = KEYS[5]
local process_id = ARGV[1]
local now = tonumber(ARGV[2])
local since = tonumber(ARGV[3])
local sockets = tonumber(ARGV[4])
local exact = string.sub(ARGV[5], 1, 1) == 'e'
local watch_ms = tonumber(exact and string.sub(ARGV[5], 2) or ARGV[5])
local views = tonumber(ARGV[6])
local ttl = tonumber(ARGV[7])
local n_counts = tonumber(ARGV[8])
local n_products = tonumber(ARGV[9])
local n_viewers = tonumber(ARGV[10])

local total = presence(presence_key, process_id, sockets, now, ttl)

local room = redis.call('HMGET', room_key, 'state', 'started_at', 'ended_at')
local started = tonumber(room[2] or '')
if not started then
  return {0, total}
end
local ended = tonumber(room[3] or '')
local hi = now
if ended and ended < hi then
  hi = ended
end
local lo = math.max(since, started)
local overlaps
if now > since then
  overlaps = hi > lo
else
  overlaps = now >= started and (not ended or now <= ended)
end
if not overlaps then
  return {0, total}
end
local minute = 'm:' .. math.floor(hi / 60000) .. ':'

if watch_ms > 0 then
  local part = watch_ms
  if not exact and now > since then
    part = math.floor(watch_ms * (hi - lo) / (now - since))
  end
  redis.call('HINCRBY', stats_key, 'watch_ms', part)
end
if total > tonumber(redis.call('HGET', stats_key, 'peak_viewers') or '0') then
  redis.call('HSET', stats_key, 'peak_viewers', total)
end
if total > tonumber(redis.call('HGET', stats_key, minute .. 'viewers') or '0') then
  redis.call('HSET', stats_key, minute .. 'viewers', total)
end
if views > 0 then
  redis.call('HINCRBY', stats_key, 'views', views)
end
local at = 11
for _ = 1, n_counts do
  local name, amount = ARGV[at], tonumber(ARGV[at + 1])
  redis.call('HINCRBY', stats_key, name, amount)
  redis.call('HINCRBY', stats_key, minute .. name, amount)
  at = at + 2
end
for _ = 1, n_products do
  local sep = string.find(ARGV[at], '|', 1, true)
  local product_id, name = string.sub(ARGV[at], 1, sep - 1), string.sub(ARGV[at], sep + 1)
  local amount = tonumber(ARGV[at + 1])
  redis.call('HINCRBY', stats_key, 'p:' .. product_id .. ':' .. name, amount)
  redis.call('HINCRBY', stats_key, name, amount)
  redis.call('HINCRBY', stats_key, minute .. name, amount)
  at = at + 2
end
local function sketch(key, first, last)
  for i = first, last, 1000 do
    redis.call('PFADD', key, unpack(ARGV, i, math.min(i + 999, last)))
  end
end
sketch(viewers_key, at, at + n_viewers - 1)
sketch(chatters_key, at + n_viewers, #ARGV)
return {1, total}
