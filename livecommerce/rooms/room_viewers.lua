-- room_viewers: record this process's viewer count for a room and return the room's total.
-- KEYS[1] presence hash (field per process, value "<count>:<expires_ms>")
-- ARGV[1] process id   ARGV[2] this process's count   ARGV[3] now (ms)   ARGV[4] ttl (ms)
-- Returns the sum over processes whose entries have not expired; expired entries (a
-- process that died) are deleted on the way.
local viewers_key = KEYS[1]
local process_id = ARGV[1]
local own_count = ARGV[2]
local now = tonumber(ARGV[3])
local ttl = ARGV[4]

if tonumber(own_count) > 0 then
  redis.call('HSET', viewers_key, process_id, own_count .. ':' .. (now + tonumber(ttl)))
else
  redis.call('HDEL', viewers_key, process_id)
end
local total = 0
local entries = redis.call('HGETALL', viewers_key)
for i = 1, #entries, 2 do
  local sep = string.find(entries[i + 1], ':', 1, true)
  local count = tonumber(string.sub(entries[i + 1], 1, sep - 1))
  local expires = tonumber(string.sub(entries[i + 1], sep + 1))
  if expires < now then
    redis.call('HDEL', viewers_key, entries[i])
  else
    total = total + count
  end
end
redis.call('PEXPIRE', viewers_key, ttl)
return total
