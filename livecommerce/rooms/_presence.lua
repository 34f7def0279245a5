-- Shared prelude for counts that many processes report: each writes its own entry in a
-- hash, which expires when the process stops reporting (it died), and the sum is read back.
-- presence(key, process_id, count, now, ttl) -> the sum over processes whose entries have
--   not expired ("<count>:<expires ms>" per process; a count of 0 removes the entry, and
--   expired entries are deleted on the way).
local function presence(key, process_id, count, now, ttl)
  if tonumber(count) > 0 then
    redis.call('HSET', key, process_id, count .. ':' .. (now + ttl))
  else
    redis.call('HDEL', key, process_id)
  end
  local total = 0
  local entries = redis.call('HGETALL', key)
  for i = 1, #entries, 2 do
    local value = entries[i + 1]
    local sep = string.find(value, ':', 1, true)
    if tonumber(string.sub(value, sep + 1)) < now then
      redis.call('HDEL', key, entries[i])
    else
      total = total + tonumber(string.sub(value, 1, sep - 1))
    end
  end
  redis.call('PEXPIRE', key, ttl)
  return total
end
