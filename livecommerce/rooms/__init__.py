"""Rooms (shows): their life from scheduled to ended, pins and the viewer count."""
