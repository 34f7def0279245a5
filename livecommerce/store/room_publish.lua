-- room_publish: append one event to a room and publish it.
-- uses: _publish
-- KEYS[1] seq counter   KEYS[2] event stream
-- ARGV[1] channel       ARGV[2] stream max length   ARGV[3] event payload (MessagePack)
-- Returns the event's seq.
local seq_key = KEYS[1]
local events_key = KEYS[2]
local channel = ARGV[1]
local maxlen = ARGV[2]
local payload = ARGV[3]

return publish(seq_key, events_key, channel, maxlen, payload)
