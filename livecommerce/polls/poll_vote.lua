-- poll_vote: one account's one vote on a running poll, counted at once.
-- KEYS[1] the poll's hash   KEYS[2] votes (account -> option index)
-- KEYS[3] a quiz's right answers (zset: account by ms from the start)
-- KEYS[4] the names of those who answered right   KEYS[5] the room's bans (set)
-- ARGV[1] account id   ARGV[2] its name   ARGV[3] option (0-based)   ARGV[4] now (ms)
-- Returns {1, count of option 1, ..., count of option n} when taken; {0, reason, detail}:
--   not_found; poll_not_active (ended, or its time is up); banned; forbidden (the host);
--   option_out_of_range; already_voted with the option the account chose before (whatever
--   socket or process that vote came from: the votes hash decides, in one step).
-- The order of the checks is rules.vote's, which the model test holds it to.
local poll_key = KEYS[1]
local votes_key = KEYS[2]
local right_key = KEYS[3]
local names_key = KEYS[4]
local bans_key = KEYS[5]
local user = ARGV[1]
local name = ARGV[2]
local option = tonumber(ARGV[3])
local now = tonumber(ARGV[4])

local p = redis.call('HMGET', poll_key, 'state', 'ends_at', 'host_id', 'options', 'kind',
  'answer', 'starts_at')
if not p[1] then
  return {0, 'not_found', ''}
end
if p[1] ~= 'active' or now >= tonumber(p[2]) then
  return {0, 'poll_not_active', ''}
end
if redis.call('SISMEMBER', bans_key, user) == 1 then
  return {0, 'banned', ''}
end
if user == p[3] then
  return {0, 'forbidden', ''}
end
local n = #cjson.decode(p[4])
if option < 0 or option >= n then
  return {0, 'option_out_of_range', ''}
end
if redis.call('HSETNX', votes_key, user, option) == 0 then
  return {0, 'already_voted', redis.call('HGET', votes_key, user)}
end
redis.call('HINCRBY', poll_key, 'v' .. (option + 1), 1)
if p[5] == 'quiz' and tonumber(p[6]) == option then
  redis.call('ZADD', right_key, now - tonumber(p[7]), user)
  redis.call('HSET', names_key, user, name)
end
local counts = {1}
for i = 1, n do
  counts[i + 1] = tonumber(redis.call('HGET', poll_key, 'v' .. i) or '0')
end
return counts
