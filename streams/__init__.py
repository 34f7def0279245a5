"""The media plane: WebRTC ingest (WHIP), relay, playback (WHEP) and recording.

Empty until the live-video issue lands; the package exists so the layout shows where the
media plane goes and so the server can be installed with it.
"""
