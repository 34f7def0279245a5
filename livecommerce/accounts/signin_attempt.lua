-- signin_attempt: may this address try this username's password now? Counted as a failure
-- up front (signin_succeeded.lua takes it back), so concurrent guesses cannot all slip in.
-- uses: _gcra
-- KEYS[1] failures of this username from this address   KEYS[2] failures of this username
-- ARGV[1] now (ms)   ARGV[2] ARGV[3] interval and burst for KEYS[1]
-- ARGV[4] ARGV[5] interval and burst for KEYS[2] (an interval of 0 turns that limit off)
-- Returns {1, counted_on_username} when the attempt may go ahead; {0, retry_after_ms} when not.
-- The username's own limit never refuses by itself: while it is spent (many addresses are
-- guessing), each address loses its burst and may try once per interval of its own limit.
-- A person at an address nobody has guessed from always gets to try, so guessing slows an
-- account's owner down at most one interval and never locks them out.
local pair_key = KEYS[1]
local user_key = KEYS[2]
local now = tonumber(ARGV[1])
local pair_interval = tonumber(ARGV[2])
local pair_burst = tonumber(ARGV[3])
local user_interval = tonumber(ARGV[4])
local user_burst = tonumber(ARGV[5])

local user_wait = nil
if user_interval > 0 then
  user_wait = gcra_wait(user_key, now, user_interval, user_burst)
  if user_wait then
    pair_burst = 1
  end
end
if pair_interval > 0 then
  local wait = gcra(pair_key, now, pair_interval, pair_burst)
  if wait then
    return {0, wait}
  end
end
if user_interval > 0 and not user_wait then
  gcra(user_key, now, user_interval, user_burst)
  return {1, 1}
end
return {1, 0}
