-- giveaway_enter: one entry per person, whatever the sockets or processes it comes from.
-- KEYS[1] the giveaway's hash   KEYS[2] its entries (user id -> "<method>|<name>")
-- KEYS[3] the room's bans (set)
-- ARGV[1] the entrant's id   ARGV[2] how they qualified (rules.Method)   ARGV[3] their name
-- ARGV[4] now (ms)
-- Returns {1, count} entered now; {2, count} entered before (the count of entrants either
-- way); {0, reason}: giveaway_not_active (unknown, past its end, drawing or ended), banned.
local giveaway_key = KEYS[1]
local entries_key = KEYS[2]
local bans_key = KEYS[3]
local user = ARGV[1]
local method = ARGV[2]
local name = ARGV[3]
local now = tonumber(ARGV[4])

local state = redis.call('HMGET', giveaway_key, 'state', 'ends_at')
if state[1] ~= 'active' or now >= tonumber(state[2]) then
  return {0, 'giveaway_not_active'}
end
if redis.call('SISMEMBER', bans_key, user) == 1 then
  return {0, 'banned'}
end
if redis.call('HSETNX', entries_key, user, method .. '|' .. name) == 0 then
  return {2, tonumber(redis.call('HGET', giveaway_key, 'entrants'))}
end
return {1, redis.call('HINCRBY', giveaway_key, 'entrants', 1)}
