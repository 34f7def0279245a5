-- account_delete: remove an account and remember its id as deleted (username_release frees
-- its name after).
-- KEYS[1] the account's hash   KEYS[2] the account's deleted flag
-- ARGV[1] account id
-- Returns 1 when deleted now, 0 when there was no such account.
-- The flag stays for good: tokens issued to the id are refused, and its chat lines are
-- shown without its name wherever they are read back.
local account_key = KEYS[1]
local deleted_key = KEYS[2]
local account_id = ARGV[1]

if redis.call('EXISTS', account_key) == 0 then
  return 0
end
redis.call('DEL', account_key)
redis.call('SET', deleted_key, account_id)
return 1
