-- username_confirm: a pending claim becomes the account's, once its account is written.
-- KEYS[1] the username's claim
-- ARGV[1] the pending claim as username_claim wrote it   ARGV[2] the account id
-- Returns 1 when the claim now names the account; 0 when the claim was taken over meanwhile
-- (the account must then be removed: the name is someone else's).
local claim_key = KEYS[1]
local pending = ARGV[1]
local account_id = ARGV[2]

if redis.call('GET', claim_key) ~= pending then
  return 0
end
redis.call('SET', claim_key, account_id)
return 1
