"""The media plane: WebRTC ingest (WHIP), relay, playback (WHEP) and recording."""
