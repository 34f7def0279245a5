-- Shared prelude, prepended to every script that publishes a room event.
-- publish(seq_key, stream_key, channel, maxlen, payload) -> seq
--   Gives the event the room's next seq, appends it to the room's capped stream under the
--   entry id "<seq>-1" (so XRANGE by seq is exact), and publishes "<seq>|<payload>" on
--   the room's shard channel. One script = one atomic step: no process ever sees a seq that is
--   not in the stream, and pub/sub order equals seq order.
local function publish(seq_key, stream_key, channel, maxlen, payload)
  local seq = redis.call('INCR', seq_key)
  redis.call('XADD', stream_key, 'MAXLEN', '~', maxlen, seq .. '-1', 'd', payload)
  redis.call('SPUBLISH', channel, seq .. '|' .. payload)
  return seq
end
