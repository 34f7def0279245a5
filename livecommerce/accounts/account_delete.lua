-- account_delete: remove an account, free its username, and remember its id as deleted.
-- KEYS[1] username -> id hash   KEYS[2] the account's hash   KEYS[3] deleted account ids (set)
-- ARGV[1] username   ARGV[2] account id
-- Returns 1 when deleted now, 0 when there was no such account.
-- The id stays in KEYS[3] for good: tokens issued to it are refused, and its chat lines are
-- shown without its name wherever they are read back.
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
redis.call('DEL', KEYS[2])
redis.call('SADD', KEYS[3], ARGV[2])
return 1
