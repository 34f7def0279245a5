-- stream_reap: the process that streamed a room stopped saying so (it died): the room's
-- uses: _publish
-- stream is offline, and the room is told.
-- KEYS[1] room hash   KEYS[2] room seq   KEYS[3] room events
-- ARGV[1] cutoff (ms): a claim last refreshed before it is stale   ARGV[2] room channel
-- ARGV[3] stream max length   ARGV[4] the stream.state offline event (MessagePack)
-- Returns 0 when the claim was refreshed after all, -2 when there is no claim (released),
-- -1 when the stream was already offline (no event needed), else the event's seq.
local seen = tonumber(redis.call('HGET', KEYS[1], 'stream_seen') or '')
if seen == nil then
  return -2
end
if seen >= tonumber(ARGV[1]) then
  return 0
end
redis.call('HDEL', KEYS[1], 'stream_origin', 'stream_internal', 'stream_seen')
local was = redis.call('HGET', KEYS[1], 'stream')
if not was or was == 'offline' then
  return -1
end
redis.call('HSET', KEYS[1], 'stream', 'offline')
return publish(KEYS[2], KEYS[3], ARGV[2], ARGV[3], ARGV[4])
