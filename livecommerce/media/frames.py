"""Encoded media frames and the rules for forwarding them, with no I/O.

The hub hands every viewer the publisher's frames as they came: it never decodes them. What
it must know about a frame it reads from the bitstream's first bytes (is this a keyframe, how
big is the picture), and what it must keep true across publishers it keeps here: one media
clock that only rises, so a viewer's decoder sees a publisher that reconnects as one stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

VIDEO_CLOCK: Final = 90_000
AUDIO_CLOCK: Final = 48_000
CLOCKS: Final = {"video": VIDEO_CLOCK, "audio": AUDIO_CLOCK}
FRAME_STEPS: Final = {"video": VIDEO_CLOCK // 30, "audio": AUDIO_CLOCK // 50}

_H264_IDR: Final = 5


@dataclass(slots=True)
class EncodedFrame:
    """One frame as the viewers get it: the bytes, the hub's clock, and its RTP payloads."""

    kind: str  # "video" | "audio"
    codec: str  # "VP8" | "H264" | "opus"
    data: bytes
    timestamp: int  # the hub's continuous clock (90 kHz video, 48 kHz audio)
    keyframe: bool
    arrival: float  # time.monotonic() when the last packet of it arrived
    payloads: list[bytes] = field(default_factory=list)


def is_keyframe(codec: str, data: bytes) -> bool:
    """Whether a decoder can start at this frame.

    VP8 says so in the first bit of its frame tag (RFC 6386 9.1: 0 is a key frame); an
    H.264 access unit is a keyframe when it holds an IDR slice (NAL type 5). Audio frames all
    stand alone.
    """
    if codec == "VP8":
        return bool(data) and data[0] & 0x01 == 0
    if codec == "H264":
        start = 0
        while True:
            start = data.find(b"\x00\x00\x01", start)
            if start < 0 or start + 3 >= len(data):
                return False
            if data[start + 3] & 0x1F == _H264_IDR:
                return True
            start += 3
    return True


def vp8_size(data: bytes) -> tuple[int, int] | None:
    """A VP8 keyframe's width and height, from its header (RFC 6386 9.1)."""
    if len(data) < 10 or data[0] & 0x01 or data[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    return (width, height) if width and height else None


class Timeline:
    """One rising media clock over every publisher connection a room has.

    Each publisher connection starts its RTP clock at zero. Viewers keep their connection
    when the publisher reconnects, and their decoders and jitter buffers want a clock that
    keeps going and that moves as the wall clock did while the publisher was away. So each
    connection's clock is placed after the last frame sent, by the time that passed.
    """

    def __init__(self, kind: str) -> None:
        self.clock = CLOCKS[kind]
        self.step = FRAME_STEPS[kind]
        self._offset: int | None = None
        self._last: int | None = None
        self._last_arrival = 0.0

    def restart(self) -> None:
        """A new publisher connection: its clock starts again from zero."""
        self._offset = None

    def place(self, timestamp: int, arrival: float) -> int:
        """The timestamp on the room's clock of a frame on the connection's clock."""
        if self._offset is None:
            if self._last is None:
                self._offset = -timestamp
            else:
                gap = int((arrival - self._last_arrival) * self.clock)
                self._offset = self._last + max(self.step, gap) - timestamp
        placed = timestamp + self._offset
        if self._last is not None and placed < self._last:
            # A frame from before one already sent (reordering across a lost packet):
            # keep the clock from going back.
            placed = self._last
        self._last = placed
        self._last_arrival = arrival
        return placed
