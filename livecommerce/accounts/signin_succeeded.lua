-- signin_succeeded: the password was right; take back what signin_attempt.lua counted.
-- KEYS[1] failures of this username from this address   KEYS[2] failures of this username
-- ARGV[1] now (ms)   ARGV[2] the username limit's interval (ms)   ARGV[3] 1 if it was counted
-- Returns 1. The address's failures are forgiven whole (whoever is there knows the password);
-- the username's limit gets back its one attempt, so the owner's sign-ins never use it up.
local pair_key = KEYS[1]
local user_key = KEYS[2]
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local counted = ARGV[3] == '1'

redis.call('DEL', pair_key)
if counted then
  local tat = tonumber(redis.call('GET', user_key))
  if tat then
    local back = tat - interval
    if back <= now then
      redis.call('DEL', user_key)
    else
      redis.call('SET', user_key, back, 'PX', math.ceil(back - now) + 1000)
    end
  end
end
return 1
