"""Test peers: an aiortc publisher whose camera draws a frame counter, and a WHEP viewer that
reads it back from the frames it decodes."""

from __future__ import annotations

import asyncio
import fractions
import time
from dataclasses import dataclass, field

import httpx
from aiortc import (
    AudioStreamTrack,
    MediaStreamTrack,
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpSender,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

CLOCK = 90_000
WIDTH, HEIGHT = 640, 360
BITS = 16
BLOCK = WIDTH // BITS  # each bit of the counter is a 40x40 block, white for 1
SDP = {"Content-Type": "application/sdp"}


def draw(count: int, width: int = WIDTH, height: int = HEIGHT) -> VideoFrame:
    """A grey frame whose top row of blocks spells ``count`` in binary."""
    frame = VideoFrame(width=width, height=height)
    luma = frame.planes[0]
    block = width // BITS
    row = b"".join(
        (b"\xeb" if count >> (BITS - 1 - bit) & 1 else b"\x10") * block for bit in range(BITS)
    )
    row += b"\x80" * (luma.line_size - len(row))
    grey = b"\x80" * luma.line_size
    luma.update(row * block + grey * (height - block))
    for plane in frame.planes[1:]:
        plane.update(b"\x80" * plane.buffer_size)
    return frame


def read(frame: VideoFrame) -> int:
    """The counter ``draw`` put in a frame, after a lossy codec's round trip."""
    luma = frame.planes[0]
    data = bytes(luma)
    block = frame.width // BITS
    middle = (block // 2) * luma.line_size
    count = 0
    for bit in range(BITS):
        count = count << 1 | (data[middle + bit * block + block // 2] > 128)
    return count


class CounterCamera(VideoStreamTrack):
    """640x360 frames at 30 fps that carry a counter, and when each was made."""

    def __init__(self, start: int = 0) -> None:
        super().__init__()
        self.count = start
        self.sent_at: dict[int, float] = {}

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = draw(self.count)
        frame.pts = pts
        frame.time_base = time_base or fractions.Fraction(1, CLOCK)
        self.sent_at[self.count] = time.monotonic()
        self.count += 1
        return frame


async def publisher_offer(
    start: int = 0, codec: str | None = None
) -> tuple[RTCPeerConnection, CounterCamera, str]:
    """A publishing peer, its camera, and its offer (all candidates gathered)."""
    pc = RTCPeerConnection()
    camera = CounterCamera(start)
    video = pc.addTransceiver(camera, direction="sendonly")
    if codec is not None:
        video.setCodecPreferences(_only(codec))
    pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, camera, pc.localDescription.sdp


def _only(codec: str) -> list[RTCRtpCodecCapability]:
    return [
        c
        for c in RTCRtpSender.getCapabilities("video").codecs
        if c.mimeType in (f"video/{codec}", "video/rtx")
    ]


async def accept(pc: RTCPeerConnection, answer: str) -> None:
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))


async def go_live(
    http: httpx.AsyncClient,
    room_id: str,
    headers: dict[str, str],
    start: int = 0,
    codec: str | None = None,
) -> tuple[RTCPeerConnection, CounterCamera, str]:
    """Publish a counter camera to a room; the peer, the camera and the session URL."""
    pc, camera, offer = await publisher_offer(start, codec)
    answer = await http.post(f"/whip/rooms/{room_id}", content=offer, headers={**SDP, **headers})
    assert answer.status_code == 201, answer.text
    await accept(pc, answer.text)
    return pc, camera, answer.headers["location"]


@dataclass
class Viewer:
    """A WHEP player that decodes what it gets and reads each frame's counter."""

    pc: RTCPeerConnection
    location: str = ""
    counters: list[int] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)
    audio_frames: int = 0
    answered_at: float = 0.0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    gone: asyncio.Event = field(default_factory=asyncio.Event)  # the server ended the session
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def frames(self, count: int, *, after: int = 0) -> list[int]:
        """Wait until ``count`` frames arrived after the first ``after``; their counters."""
        async with self.changed:
            await self.changed.wait_for(lambda: len(self.counters) >= after + count)
        return self.counters[after : after + count]

    async def _read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if track.kind == "audio":
                    self.audio_frames += 1
                    continue
                assert isinstance(frame, VideoFrame)
                async with self.changed:
                    self.counters.append(read(frame))
                    self.arrived.append(time.monotonic())
                    self.changed.notify_all()
        except MediaStreamError:
            pass

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()


async def watch(
    http: httpx.AsyncClient,
    room_id: str,
    *,
    codecs: tuple[str, ...] = (),
    headers: dict[str, str] | None = None,
) -> Viewer:
    """Start watching a room over WHEP; fails the test on anything but 201."""
    viewer, answer = await offer_to_watch(http, room_id, codecs=codecs, headers=headers)
    assert answer.status_code == 201, answer.text
    await accept(viewer.pc, answer.text)
    viewer.answered_at = time.monotonic()
    viewer.location = answer.headers["location"]
    return viewer


async def offer_to_watch(
    http: httpx.AsyncClient,
    room_id: str,
    *,
    codecs: tuple[str, ...] = (),
    headers: dict[str, str] | None = None,
) -> tuple[Viewer, httpx.Response]:
    pc = RTCPeerConnection()
    viewer = Viewer(pc)
    video = pc.addTransceiver("video", direction="recvonly")
    if codecs:
        video.setCodecPreferences([c for name in codecs for c in _only(name)])
    pc.addTransceiver("audio", direction="recvonly")

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        viewer._tasks.append(asyncio.ensure_future(viewer._read(track)))

    @pc.on("connectionstatechange")
    def on_state() -> None:
        if pc.connectionState in ("closed", "failed"):
            viewer.gone.set()

    await pc.setLocalDescription(await pc.createOffer())
    answer = await http.post(
        f"/whep/rooms/{room_id}",
        content=pc.localDescription.sdp,
        headers={**SDP, **(headers or {})},
    )
    if answer.status_code != 201:
        await pc.close()
    return viewer, answer
