"""Test peers: an aiortc publisher with a synthetic camera, and helpers to talk WHIP."""

from __future__ import annotations

import fractions
import time

from aiortc import AudioStreamTrack, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from av import VideoFrame

CLOCK = 90_000


class CounterCamera(VideoStreamTrack):
    """640x360 frames at 30 fps whose brightness steps with a frame counter."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.sent_at: dict[int, float] = {}

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=640, height=360)
        luma = 16 + (self.count * 7) % 220
        frame.planes[0].update(bytes([luma]) * frame.planes[0].buffer_size)
        for plane in frame.planes[1:]:
            plane.update(bytes([128]) * plane.buffer_size)
        frame.pts = pts
        frame.time_base = time_base or fractions.Fraction(1, CLOCK)
        self.sent_at[self.count] = time.time()
        self.count += 1
        return frame


async def publisher_offer() -> tuple[RTCPeerConnection, CounterCamera, str]:
    """A publishing peer, its camera, and its offer (all candidates gathered)."""
    pc = RTCPeerConnection()
    camera = CounterCamera()
    pc.addTransceiver(camera, direction="sendonly")
    pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, camera, pc.localDescription.sdp


async def accept(pc: RTCPeerConnection, answer: str) -> None:
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
