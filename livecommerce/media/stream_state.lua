-- stream_state: the process that streams a room tells it the stream is live, reconnecting or
-- uses: _publish
-- offline. A process whose claim another has taken since (the studio moved) says nothing:
-- the room's stream is the claimant's to describe.
-- KEYS[1] room hash   KEYS[2] room seq   KEYS[3] room events
-- ARGV[1] this process's origin URL   ARGV[2] its internal URL   ARGV[3] state
-- ARGV[4] now (ms)   ARGV[5] room channel   ARGV[6] stream max length
-- ARGV[7] the stream.state event (MessagePack)
-- Returns the event's seq, or 0 when the stream is another process's now.
local holder = redis.call('HGET', KEYS[1], 'stream_origin')
if holder and holder ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'stream', ARGV[3], 'stream_origin', ARGV[1],
  'stream_internal', ARGV[2], 'stream_seen', ARGV[4])
return publish(KEYS[2], KEYS[3], ARGV[5], ARGV[6], ARGV[7])
