-- username_claim: claim a username for a sign-up that is about to write its account.
-- KEYS[1] the username's claim
-- ARGV[1] the new account's id   ARGV[2] grace (ms): how old a pending claim must be before a
-- later sign-up may look at it   ARGV[3] the stale pending claim the caller found abandoned
-- (its account never written), to take over; '' for none
-- Returns {1, pending} when claimed: the claim now reads pending ("<id> <ms>", the store's
-- clock) until username_confirm; {0, current} when someone holds it; {2, current} when it is
-- a pending claim older than the grace: the caller checks whether its account exists, and
-- calls again with it as ARGV[3] to take it over.
local claim_key = KEYS[1]
local account_id = ARGV[1]
local grace_ms = tonumber(ARGV[2])
local abandoned = ARGV[3]

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pending = account_id .. ' ' .. now
local current = redis.call('GET', claim_key)
if not current or (abandoned ~= '' and current == abandoned) then
  redis.call('SET', claim_key, pending)
  return {1, pending}
end
local since = string.match(current, '^%S+ (%d+)$')
if since and now - tonumber(since) >= grace_ms then
  return {2, current}
end
return {0, current}
