-- username_release: free a username, but only while its claim is still this account's.
-- KEYS[1] the username's claim
-- ARGV[1] the account id
-- Returns 1 when freed; 0 when the claim names someone else (or nobody).
local claim_key = KEYS[1]
local account_id = ARGV[1]

local current = redis.call('GET', claim_key)
if current == account_id or (current and string.sub(current, 1, #account_id + 1) == account_id .. ' ') then
  redis.call('DEL', claim_key)
  return 1
end
return 0
