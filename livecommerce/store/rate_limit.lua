-- rate_limit: one GCRA step: may this subject act now, and if not, when.
-- KEYS[1] the subject's key (holds its theoretical arrival time, ms)
-- ARGV[1] now (ms)   ARGV[2] emission interval (ms per action)   ARGV[3] burst
-- Returns {1, 0} when allowed (and counted); {0, retry_after_ms} when not.
-- GCRA spreads a limit evenly: after a burst, one more action every interval, so a
-- subject that keeps trying is slowed down rather than locked out.
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then
  tat = now
end
local new_tat = tat + interval
local allow_at = new_tat - interval * burst
if allow_at > now then
  return {0, allow_at - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now) + 1000)
return {1, 0}
