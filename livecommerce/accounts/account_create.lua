-- account_create: claim a username and write its account, or fail if it is taken.
-- KEYS[1] username -> id hash   KEYS[2] the new account's hash
-- ARGV[1] username   ARGV[2] account id   ARGV[3..] field, value pairs of the account
-- Returns 1 when created, 0 when the username is taken.
local usernames_key = KEYS[1]
local account_key = KEYS[2]
local username = ARGV[1]
local account_id = ARGV[2]

if redis.call('HSETNX', usernames_key, username, account_id) == 0 then
  return 0
end
local fields = {}
for i = 3, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', account_key, unpack(fields))
return 1
