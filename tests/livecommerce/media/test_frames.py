"""What the hub reads from encoded frames, and the clock it keeps, without a network."""

from __future__ import annotations

import fractions
from typing import cast

import av
from av.video.codeccontext import VideoCodecContext
from hypothesis import given
from hypothesis import strategies as st

from livecommerce.media.frames import FRAME_STEPS, Timeline, is_keyframe, vp8_size
from tests.livecommerce.media.peers import draw


def encode(codec: str, frames: int) -> list[bytes]:
    """Real frames from PyAV's encoders: the first a keyframe, the rest deltas."""
    context = cast(VideoCodecContext, av.CodecContext.create(codec, "w"))
    context.width, context.height = 320, 180
    context.pix_fmt = "yuv420p"
    context.time_base = fractions.Fraction(1, 30)
    context.gop_size = 1000
    if codec == "libx264":
        context.options = {"tune": "zerolatency", "profile": "baseline"}
    packets = []
    for index in range(frames):
        frame = draw(index, 320, 180)
        frame.pts = index
        packets += [bytes(p) for p in context.encode(frame)]
    packets += [bytes(p) for p in context.encode(None)]
    return packets


def test_a_decoder_can_start_only_at_a_keyframe_of_either_codec() -> None:
    for codec, name in (("libvpx", "VP8"), ("libx264", "H264")):
        packets = encode(codec, 5)
        assert [is_keyframe(name, p) for p in packets] == [True, False, False, False, False]


def test_a_vp8_keyframe_says_how_big_the_picture_is() -> None:
    key, delta, *_ = encode("libvpx", 2)
    assert vp8_size(key) == (320, 180)
    assert vp8_size(delta) is None
    assert vp8_size(b"") is None
    assert vp8_size(b"\x00" * 12) is None


def test_garbage_is_never_taken_for_a_keyframe_of_h264() -> None:
    assert not is_keyframe("H264", b"")
    assert not is_keyframe("H264", b"\x00\x00\x01")
    assert not is_keyframe("H264", b"\x00\x00\x01\x41" + b"\xff" * 20)  # a P slice
    assert not is_keyframe("VP8", b"")
    assert is_keyframe("opus", b"\xfc")


def test_a_publisher_who_reconnects_continues_the_clock_by_the_time_away() -> None:
    clock = Timeline("video")
    assert [clock.place(ts, 10 + ts / 90_000) for ts in (0, 3000, 6000)] == [0, 3000, 6000]
    clock.restart()  # the new connection's clock starts at zero again, 2 s later
    assert clock.place(0, 10 + 6000 / 90_000 + 2.0) == 6000 + 180_000
    assert clock.place(3000, 12.1) == 6000 + 180_000 + 3000


Step = tuple[int, float] | None


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.tuples(st.integers(0, 2**40), st.floats(0, 1e5, allow_nan=False)),
        ),
        max_size=60,
    )
)
def test_the_room_clock_never_goes_back_whatever_publishers_send(steps: list[Step]) -> None:
    clock = Timeline("audio")
    placed: list[int] = []
    restarted = False
    for step in steps:
        if step is None:
            clock.restart()
            restarted = True
            continue
        timestamp, arrival = step
        out = clock.place(timestamp, arrival)
        if placed:
            assert out >= placed[-1]
            if restarted:
                assert out >= placed[-1] + FRAME_STEPS["audio"]
        restarted = False
        placed.append(out)
