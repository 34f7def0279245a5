-- room_seq_raise: lift a room's seq counter to a seq this process has already handed out.
-- A failover can lose a primary's last writes, its seq increments among them; a process
-- that delivered those events raises the counter again so that no seq is given twice.
-- KEYS[1] seq counter
-- ARGV[1] the highest seq this process delivered
-- Returns the counter after: ARGV[1], or what it was if that was higher.
local seq_key = KEYS[1]
local delivered = tonumber(ARGV[1])

local current = tonumber(redis.call('GET', seq_key) or '0')
if current < delivered then
  redis.call('SET', seq_key, delivered)
  return delivered
end
return current
