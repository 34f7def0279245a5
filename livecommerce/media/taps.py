"""Where forwarding plugs into aiortc, which has no public API for it.

aiortc receives RTP, rebuilds frames and decodes them in a thread; it sends by encoding
frames, or by packetizing what a track hands it that is not a decoded frame. To forward,
the receiving side must give up frames before the decoder and the sending side must take
frames already packetized. Both go through aiortc's private attributes, named in one place
here; ``check()`` fails loudly (a test calls it) if an aiortc release renames one. The
pinned aiortc range in pyproject.toml is the versions these were read from.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from typing import Any, Protocol

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.codecs.base import Encoder
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_ENCODER = "_RTCRtpSender__encoder"
log = logging.getLogger("livecommerce.streams")

VIDEO_JITTER_SLOTS = 1024  # a 1080p keyframe can be a few hundred packets

FrameSink = Callable[[str, bytes, int], None]  # codec name, frame bytes, RTP timestamp


class Prepared(Protocol):
    """What a forwarding track hands its sender: payloads packetized once for everyone."""

    payloads: list[bytes]
    timestamp: int


class _Tap(queue.Queue[Any]):
    """Stands where the decoder's queue was: frames go to the hub, not to a decoder.

    Runs on the event loop inside aiortc's packet handling, where an exception would close
    the publisher's transport, so nothing escapes it.
    """

    def __init__(self, sink: FrameSink) -> None:
        super().__init__()
        self._sink = sink

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:  # aiortc stopping its (idle) decoder thread
            super().put(None)
            return
        codec, frame = item
        try:
            self._sink(codec.name, frame.data, frame.timestamp)
        except Exception:
            log.exception("frame tap failed")


class _VideoBuffer(JitterBuffer):
    """aiortc's buffer, remembering the media SSRC a keyframe request must name, and letting
    a frame go as soon as its last packet (the RTP marker) is in.

    aiortc's own buffer knows a frame is whole only when the next one begins: a frame
    interval (33 ms at 30 fps) of delay on every frame, and video that lags its audio.
    Without a marker (a sender that sets none, a lost last packet) that rule still holds.
    """

    media_ssrc: int | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        self.media_ssrc = packet.ssrc
        return super().add(packet)

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        assert self._origin is not None
        packets: list[RtpPacket] = []
        timestamp = None
        for count in range(self.capacity):
            packet = self._packets[(self._origin + count) % self.capacity]
            if packet is None:
                return None
            if timestamp is None:
                timestamp = packet.timestamp
            elif packet.timestamp != timestamp:
                self.remove(count)
                return _joined(packets, timestamp)
            packets.append(packet)
            if packet.marker:
                self.remove(count + 1)
                return _joined(packets, timestamp)
        return None


def _joined(packets: list[RtpPacket], timestamp: int) -> JitterFrame:
    return JitterFrame(data=b"".join(p._data for p in packets), timestamp=timestamp)  # type: ignore[attr-defined]


class _AudioBuffer:
    """Every Opus packet is a frame: pass it on at once (aiortc's buffer holds back four)."""

    media_ssrc: int | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        self.media_ssrc = packet.ssrc
        return False, JitterFrame(data=packet._data, timestamp=packet.timestamp)  # type: ignore[attr-defined]


def tap(receiver: RTCRtpReceiver, kind: str, sink: FrameSink) -> Callable[[], int | None]:
    """Send a receiver's frames to ``sink`` undecoded; the media SSRC, when known, by call.

    Must run in the peer connection's ``track`` event, before the transport connects and
    aiortc starts the decoder thread on the old queue.
    """
    buffer: _VideoBuffer | _AudioBuffer
    buffer = _VideoBuffer(VIDEO_JITTER_SLOTS, is_video=True) if kind == "video" else _AudioBuffer()
    setattr(receiver, _JITTER_BUFFER, buffer)
    setattr(receiver, _DECODER_QUEUE, _Tap(sink))
    return lambda: buffer.media_ssrc


async def request_keyframe(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    """Ask the publisher for a keyframe (RTCP PLI)."""
    await receiver._send_rtcp_pli(media_ssrc)


def packetize(codec: str, data: bytes, picture_id: int) -> list[bytes]:
    """RTP payloads for one frame, with aiortc's own packetizers."""
    if codec == "VP8":
        return Vp8Encoder._packetize(data, picture_id)
    if codec == "H264":
        return H264Encoder._packetize(H264Encoder._split_bitstream(data))
    return [data]


class _Passthrough(Encoder):
    """A sender's encoder that only hands on what was packetized before."""

    def encode(self, frame: Any, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        raise TypeError("a forwarding sender never encodes")

    def pack(self, packet: Any) -> tuple[list[bytes], int]:
        prepared: Prepared = packet
        return prepared.payloads, prepared.timestamp


def forward(sender: RTCRtpSender, on_keyframe_request: Callable[[], None]) -> None:
    """Make a sender take prepared payloads, and pass its viewer's PLI/FIR upstream."""
    setattr(sender, _ENCODER, _Passthrough())
    sender._send_keyframe = on_keyframe_request  # type: ignore[method-assign]


def share_stream(senders: list[RTCRtpSender]) -> None:
    """One msid stream for audio and video: browsers lip-sync only tracks of one stream."""
    first = senders[0]
    for other in senders[1:]:
        other._stream_id = first._stream_id


async def check() -> None:
    """Raise if this aiortc lacks a private name forwarding depends on."""
    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("video", direction="sendrecv")
        wanted = [
            (transceiver.receiver, (_DECODER_QUEUE, _JITTER_BUFFER, "_send_rtcp_pli")),
            (transceiver.sender, (_ENCODER, "_send_keyframe", "_stream_id")),
            (H264Encoder, ("_packetize", "_split_bitstream")),
            (Vp8Encoder, ("_packetize",)),
        ]
        missing = [name for owner, names in wanted for name in names if not hasattr(owner, name)]
    finally:
        await pc.close()
    if missing:
        raise RuntimeError(f"this aiortc lacks what forwarding uses: {', '.join(missing)}")
