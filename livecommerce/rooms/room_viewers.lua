-- room_viewers: record this process's viewer count for a room and return the room's total.
-- uses: _presence
-- KEYS[1] presence hash (field per process, value "<count>:<expires_ms>")
-- ARGV[1] process id   ARGV[2] this process's count   ARGV[3] now (ms)   ARGV[4] ttl (ms)
-- Returns the sum over processes whose entries have not expired; expired entries (a
-- process that died) are deleted on the way.
local viewers_key = KEYS[1]
local process_id = ARGV[1]
local own_count = ARGV[2]
local now = tonumber(ARGV[3])
local ttl = ARGV[4]

return presence(viewers_key, process_id, own_count, now, tonumber(ttl))
