"""What the rest of the system hears of this process's streams: the show's end that stops
them, and the replay a recording becomes."""

from __future__ import annotations

from pathlib import Path

from livecommerce.media.recording import Recording
from livecommerce.media.streams import replay_entry, show_ended


def test_only_the_show_ending_ends_its_streams() -> None:
    assert show_ended({"type": "room.state", "state": "ended", "seq": 9})
    assert not show_ended({"type": "room.state", "state": "live"})
    assert not show_ended({"type": "chat.message", "state": "ended"})


def test_a_recording_is_listed_by_its_file_name_type_and_times() -> None:
    recording = Recording(
        path=Path("/data/recordings/r_1-1700.webm"),
        media_type="video/webm",
        started_at_ms=1_700,
        ended_at_ms=9_700,
        video_frames=240,
        audio_frames=400,
    )
    assert replay_entry(recording) == {
        "url": "/recordings/r_1-1700.webm",
        "media_type": "video/webm",
        "started_at": 1_700,
        "ended_at": 9_700,
    }
