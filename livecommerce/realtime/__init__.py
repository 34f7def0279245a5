"""The realtime plane: the room gateway, channels, the feed, fan-out, the bus and the wire."""
