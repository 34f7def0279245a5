"""The media plane: WebRTC ingest (WHIP), relay, playback (WHEP) and recording.

Being built for the live-video issue. ``offers`` reads and checks the SDP offers that WHIP
and WHEP requests carry; ingest, forwarding, playback and recording come next.
"""
