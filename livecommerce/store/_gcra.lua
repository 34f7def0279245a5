-- Shared prelude: one GCRA step, for every rate limit (chat, reserves, abuse limits).
-- gcra(key, now, interval, burst) -> nil when allowed (and counted), else the retry-after ms.
--   The key holds the subject's theoretical arrival time; after a burst of `burst`, one
--   more action every `interval` ms, so a subject that keeps trying is slowed, not locked out.
-- gcra_wait(key, now, interval, burst) -> the same answer without counting anything.
local function gcra_wait(key, now, interval, burst)
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then
    tat = now
  end
  local allow_at = tat + interval - interval * burst
  if allow_at > now then
    return allow_at - now, tat
  end
  return nil, tat
end

local function gcra(key, now, interval, burst)
  local wait, tat = gcra_wait(key, now, interval, burst)
  if wait then
    return wait
  end
  local new_tat = tat + interval
  redis.call('SET', key, new_tat, 'PX', math.ceil(new_tat - now) + 1000)
  return nil
end
