"""livecommerce: an open-source live-stream shopping server."""
