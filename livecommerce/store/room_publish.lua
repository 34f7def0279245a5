-- room_publish: append one event to a room and publish it.
-- uses: _publish
-- KEYS[1] seq counter   KEYS[2] event stream
-- ARGV[1] channel       ARGV[2] stream max length   ARGV[3] event payload (MessagePack)
-- Returns the event's seq.
return publish(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])
