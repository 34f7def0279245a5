-- stream_state: the process that streams a room tells it the stream is live, reconnecting or
-- offline. A process whose claim another has taken since (the studio moved) says nothing:
-- the room's stream is the claimant's to describe.
-- uses: _publish
-- KEYS[1] room hash   KEYS[2] room seq   KEYS[3] room events
-- ARGV[1] this process's origin URL   ARGV[2] its internal URL   ARGV[3] state
-- ARGV[4] now (ms)   ARGV[5] room channel   ARGV[6] stream max length
-- ARGV[7] the stream.state event (MessagePack)
-- Returns the event's seq, or 0 when the stream is another process's now.
local room_key = KEYS[1]
local seq_key = KEYS[2]
local events_key = KEYS[3]
local origin = ARGV[1]
local internal = ARGV[2]
local state = ARGV[3]
local now = ARGV[4]
local channel = ARGV[5]
local maxlen = ARGV[6]
local payload = ARGV[7]

local holder = redis.call('HGET', room_key, 'stream_origin')
if holder and holder ~= origin then
  return 0
end
redis.call('HSET', room_key, 'stream', state, 'stream_origin', origin,
  'stream_internal', internal, 'stream_seen', now)
return publish(seq_key, events_key, channel, maxlen, payload)
