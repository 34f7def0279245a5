-- signin_succeeded: the password was right; take back what signin_attempt.lua counted.
-- KEYS[1] failures of this username from this address   KEYS[2] failures of this username
-- ARGV[1] now (ms)   ARGV[2] the username limit's interval (ms)   ARGV[3] 1 if it was counted
-- Returns 1. The address's failures are forgiven whole (whoever is there knows the password);
-- the username's limit gets back its one attempt, so the owner's sign-ins never use it up.
redis.call('DEL', KEYS[1])
if ARGV[3] == '1' then
  local now, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
  local tat = tonumber(redis.call('GET', KEYS[2]))
  if tat then
    local back = tat - interval
    if back <= now then
      redis.call('DEL', KEYS[2])
    else
      redis.call('SET', KEYS[2], back, 'PX', math.ceil(back - now) + 1000)
    end
  end
end
return 1
