-- account_copy: write an account moved from its legacy key, unless it is there already.
-- KEYS[1] the account's hash
-- ARGV[1..] field, value pairs of the account
-- Returns 1 when written, 0 when the account was there (moved before: what it holds now wins).
local account_key = KEYS[1]
local fields = ARGV

if redis.call('EXISTS', account_key) == 1 then
  return 0
end
redis.call('HSET', account_key, unpack(fields))
return 1
