"""How frames leave aiortc's receiver for the hub: whole, in order, as soon as they are."""

from __future__ import annotations

from aiortc.jitterbuffer import JitterFrame
from aiortc.rtp import RtpPacket

from livecommerce.media import taps


def packet(seq: int, timestamp: int, data: bytes, *, marker: bool = False) -> RtpPacket:
    p = RtpPacket(payload_type=96, sequence_number=seq, timestamp=timestamp, ssrc=1234)
    p.marker = int(marker)
    p._data = data  # type: ignore[attr-defined]  # what aiortc's depayloader leaves
    return p


def buffer() -> taps._VideoBuffer:
    return taps._VideoBuffer(taps.VIDEO_JITTER_SLOTS, is_video=True)


def frames(buf: taps._VideoBuffer, packets: list[RtpPacket]) -> list[tuple[bytes, int] | None]:
    out: list[tuple[bytes, int] | None] = []
    for p in packets:
        _, frame = buf.add(p)
        out.append(None if frame is None else (frame.data, frame.timestamp))
    return out


def test_a_frame_goes_the_moment_its_last_packet_is_in() -> None:
    buf = buffer()
    got = frames(
        buf,
        [
            packet(10, 3000, b"a1"),
            packet(11, 3000, b"a2", marker=True),
            packet(12, 6000, b"b1", marker=True),
        ],
    )
    assert got == [None, (b"a1a2", 3000), (b"b1", 6000)]
    assert buf.media_ssrc == 1234


def test_a_frame_missing_a_packet_waits_for_it_then_goes_whole() -> None:
    buf = buffer()
    got = frames(
        buf,
        [
            packet(10, 3000, b"a1"),
            packet(12, 3000, b"a3", marker=True),  # 11 lost: NACKed, retransmitted
            packet(11, 3000, b"a2"),
            packet(13, 6000, b"b1", marker=True),
        ],
    )
    assert got == [None, None, (b"a1a2a3", 3000), (b"b1", 6000)]


def test_without_a_marker_a_frame_is_whole_when_the_next_begins() -> None:
    buf = buffer()
    got = frames(buf, [packet(10, 3000, b"a1"), packet(11, 3000, b"a2"), packet(12, 6000, b"b1")])
    assert got == [None, None, (b"a1a2", 3000)]


def test_audio_packets_pass_at_once() -> None:
    sink: list[tuple[str, bytes, int]] = []
    tap = taps._Tap(lambda codec, data, ts: sink.append((codec, data, ts)))
    audio = taps._AudioBuffer()
    _, frame = audio.add(packet(5, 960, b"opus"))
    assert isinstance(frame, JitterFrame)
    assert (frame.data, frame.timestamp) == (b"opus", 960)
    tap.put((type("Codec", (), {"name": "opus"})(), frame))
    assert sink == [("opus", b"opus", 960)]


def test_a_failing_hub_never_reaches_aiortc_s_receive_path() -> None:
    def broken(codec: str, data: bytes, timestamp: int) -> None:
        raise RuntimeError("a bug in the hub")

    tap = taps._Tap(broken)
    tap.put((type("Codec", (), {"name": "VP8"})(), JitterFrame(b"x", 0)))  # does not raise
    tap.put(None)  # aiortc stopping its decoder thread still works
    assert tap.get_nowait() is None


async def test_aiortc_still_has_what_forwarding_hooks_into() -> None:
    await taps.check()
