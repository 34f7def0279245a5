-- rate_limit: may this subject act now, and if not, when (see _gcra.lua).
-- uses: _gcra
-- KEYS[1] the subject's key   ARGV[1] now (ms)   ARGV[2] interval (ms per action)   ARGV[3] burst
-- Returns {1, 0} when allowed (and counted); {0, retry_after_ms} when not.
local subject_key = KEYS[1]
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])

local wait = gcra(subject_key, now, interval, burst)
if wait then
  return {0, wait}
end
return {1, 0}
