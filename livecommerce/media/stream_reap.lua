-- stream_reap: the process that streamed a room stopped saying so (it died): the room's
-- stream is offline, and the room is told.
-- uses: _publish
-- KEYS[1] room hash   KEYS[2] room seq   KEYS[3] room events
-- ARGV[1] cutoff (ms): a claim last refreshed before it is stale   ARGV[2] room channel
-- ARGV[3] stream max length   ARGV[4] the stream.state offline event (MessagePack)
-- Returns 0 when the claim was refreshed after all, -2 when there is no claim (released),
-- -1 when the stream was already offline (no event needed), else the event's seq.
local room_key = KEYS[1]
local seq_key = KEYS[2]
local events_key = KEYS[3]
local cutoff = tonumber(ARGV[1])
local channel = ARGV[2]
local maxlen = ARGV[3]
local payload = ARGV[4]

local seen = tonumber(redis.call('HGET', room_key, 'stream_seen') or '')
if seen == nil then
  return -2
end
if seen >= cutoff then
  return 0
end
redis.call('HDEL', room_key, 'stream_origin', 'stream_internal', 'stream_seen')
local was = redis.call('HGET', room_key, 'stream')
if not was or was == 'offline' then
  return -1
end
redis.call('HSET', room_key, 'stream', 'offline')
return publish(seq_key, events_key, channel, maxlen, payload)
