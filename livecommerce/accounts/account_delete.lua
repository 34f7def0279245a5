-- account_delete: remove an account, free its username, and remember its id as deleted.
-- KEYS[1] username -> id hash   KEYS[2] the account's hash   KEYS[3] deleted account ids (set)
-- ARGV[1] username   ARGV[2] account id
-- Returns 1 when deleted now, 0 when there was no such account.
-- The id stays in KEYS[3] for good: tokens issued to it are refused, and its chat lines are
-- shown without its name wherever they are read back.
local usernames_key = KEYS[1]
local account_key = KEYS[2]
local deleted_key = KEYS[3]
local username = ARGV[1]
local account_id = ARGV[2]

if redis.call('EXISTS', account_key) == 0 then
  return 0
end
if redis.call('HGET', usernames_key, username) == account_id then
  redis.call('HDEL', usernames_key, username)
end
redis.call('DEL', account_key)
redis.call('SADD', deleted_key, account_id)
return 1
