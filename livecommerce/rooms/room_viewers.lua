-- room_viewers: record this process's viewer count for a room and return the room's total.
-- KEYS[1] presence hash (field per process, value "<count>:<expires_ms>")
-- ARGV[1] process id   ARGV[2] this process's count   ARGV[3] now (ms)   ARGV[4] ttl (ms)
-- Returns the sum over processes whose entries have not expired; expired entries (a
-- process that died) are deleted on the way.
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. (tonumber(ARGV[3]) + tonumber(ARGV[4])))
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
local now = tonumber(ARGV[3])
local total = 0
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  local sep = string.find(entries[i + 1], ':', 1, true)
  local count = tonumber(string.sub(entries[i + 1], 1, sep - 1))
  local expires = tonumber(string.sub(entries[i + 1], sep + 1))
  if expires < now then
    redis.call('HDEL', KEYS[1], entries[i])
  else
    total = total + count
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return total
