"""A viewer's track on its own: how it starts, falls behind and catches up, with no network."""

from __future__ import annotations

import asyncio

import pytest
from aiortc.mediastreams import MediaStreamError

from livecommerce.media.frames import EncodedFrame
from livecommerce.media.hub import Source
from livecommerce.media.playback import QUEUE_FRAMES, ForwardTrack


def frame(n: int, *, key: bool = False, kind: str = "video") -> EncodedFrame:
    return EncodedFrame(kind, "VP8", bytes([n % 256]), n * 3000, key, 0.0, [b"p"])


async def joined(source: Source) -> ForwardTrack:
    """A track whose sender has read its first frame, as aiortc's does once DTLS is up."""
    track = ForwardTrack(source)
    reading = asyncio.ensure_future(track.recv())
    assert track.push(frame(-1, key=True))
    assert await reading == frame(-1, key=True)
    assert track in source.sinks
    return track


async def test_a_new_viewer_starts_at_a_keyframe_and_skips_what_it_cannot_decode() -> None:
    track = ForwardTrack(Source("video", lambda f: None))
    assert not track.push(frame(1))
    assert not track.push(frame(2))
    assert track.push(frame(3, key=True))
    assert track.push(frame(4))
    assert [await track.recv() for _ in range(2)] == [frame(3, key=True), frame(4)]


async def test_a_viewer_who_falls_behind_drops_its_backlog_and_resumes_at_a_keyframe() -> None:
    source = Source("video", lambda f: None)
    track = await joined(source)
    limit = QUEUE_FRAMES["video"]
    for n in range(limit):
        assert track.push(frame(n))
    assert not track.push(frame(limit))  # one too many: the backlog goes
    assert track.dropped == 1
    assert not track.push(frame(limit + 1))  # still no keyframe
    assert track.push(frame(limit + 2, key=True))
    assert await track.recv() == frame(limit + 2, key=True)


async def test_audio_behind_drops_its_backlog_and_goes_on_at_once() -> None:
    source = Source("audio", lambda f: None)
    track = await joined(source)
    limit = QUEUE_FRAMES["audio"]
    for n in range(limit):
        assert track.push(frame(n, kind="audio", key=True))
    assert track.push(frame(limit, kind="audio", key=True))
    assert track.dropped == 1
    assert await track.recv() == frame(limit, kind="audio", key=True)


async def test_a_publisher_who_reconnects_makes_viewers_wait_for_its_first_keyframe() -> None:
    source = Source("video", lambda f: None)
    track = await joined(source)
    track.resync()
    assert not track.push(frame(1))
    assert track.push(frame(2, key=True))


async def test_the_end_of_the_stream_ends_the_track_and_only_then() -> None:
    source = Source("video", lambda f: None)
    track = await joined(source)
    track.push(frame(0, key=True))
    source.close()
    assert await track.recv() == frame(0, key=True)
    with pytest.raises(MediaStreamError):
        await track.recv()
    assert track.readyState == "ended"
    assert track not in source.sinks
