-- stream_release: a process stops streaming a room; forget where the stream was, unless
-- another process has claimed it since (the studio published again elsewhere).
-- KEYS[1] room hash   ARGV[1] the releasing process's origin URL
-- Returns 1 when the claim was this process's and is gone, 0 when someone else holds it.
local room_key = KEYS[1]
local origin = ARGV[1]

if redis.call('HGET', room_key, 'stream_origin') == origin then
  redis.call('HDEL', room_key, 'stream_origin', 'stream_internal', 'stream_seen')
  return 1
end
return 0
