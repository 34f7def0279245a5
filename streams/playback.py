"""WHEP playback: a viewer's connection, fed the room's frames as the publisher encoded them.

Each viewer has a track per kind that queues the hub's frames for its sender. A track that
falls behind (a slow viewer) drops its backlog and waits for the next keyframe rather than
growing without bound or slowing anyone else. A track never fails while the room is live:
aiortc stops a sender for good when its track raises, and a viewer must survive the
publisher's reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass, field

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError
from aiortc.mediastreams import MediaStreamError

from livecommerce import metrics
from livecommerce.errors import RoomNotLive, Unavailable
from streams import taps
from streams.frames import EncodedFrame
from streams.hub import Hub, Hubs, Source
from streams.offers import Offer, UnsupportedCodec, preferences

log = logging.getLogger("livecommerce.streams")

CONNECT_TIMEOUT_S = 30.0
QUEUE_FRAMES = {"video": 60, "audio": 100}  # about two seconds of each
MAX_VIEWERS = 2000  # per process; each one costs a UDP socket and ~1 % of a core


class ForwardTrack(MediaStreamTrack):
    """One viewer's copy of one kind of the room's media."""

    def __init__(self, source: Source) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source
        self._queue: asyncio.Queue[EncodedFrame | None] = asyncio.Queue()
        self._limit = QUEUE_FRAMES[source.kind]
        self._waiting_key = source.kind == "video"
        self._joined = False
        self.frames = 0
        self.dropped = 0
        self.first_frame: asyncio.Event = asyncio.Event()

    async def recv(self) -> EncodedFrame:  # type: ignore[override]
        if not self._joined:
            # The sender reads only once DTLS is up: frames queued earlier would be stale.
            self._joined = True
            self._source.sinks.add(self)
            self._source.request_keyframe()
        frame = await self._queue.get()
        if frame is None:
            self.stop()
            raise MediaStreamError
        self.frames += 1
        self.first_frame.set()
        return frame

    def push(self, frame: EncodedFrame) -> bool:
        if self._waiting_key:
            if not frame.keyframe:
                self._source.request_keyframe()
                return False
            self._waiting_key = False
        if self._queue.qsize() >= self._limit:
            while not self._queue.empty():
                self._queue.get_nowait()
            self.dropped += 1
            if self.kind == "video":
                self._waiting_key = True
                self._source.request_keyframe()
                return False
        self._queue.put_nowait(frame)
        return True

    def resync(self) -> None:
        """A new publisher connection: its deltas mean nothing until its first keyframe."""
        if self.kind == "video":
            self._waiting_key = True

    def end(self) -> None:
        self._queue.put_nowait(None)

    def stop(self) -> None:
        super().stop()
        self._source.sinks.discard(self)


@dataclass(eq=False)
class Playback:
    id: str
    room_id: str
    viewer_id: str | None
    pc: RTCPeerConnection
    tracks: dict[str, ForwardTrack]
    started_at: float = field(default_factory=time.time)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)


class Playbacks:
    """This process's WHEP sessions."""

    def __init__(
        self,
        hubs: Hubs,
        ice_servers: list[RTCIceServer] | None = None,
        *,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        max_viewers: int = MAX_VIEWERS,
    ) -> None:
        self.hubs = hubs
        self.ice_servers = ice_servers or []
        self.connect_timeout_s = connect_timeout_s
        self.max_viewers = max_viewers
        self.by_id: dict[str, Playback] = {}

    async def play(self, room_id: str, offer: Offer, viewer_id: str | None) -> tuple[Playback, str]:
        """Answer a viewer's offer; the session and the answer SDP."""
        hub = self.hubs.live(room_id)
        if hub is None or hub.video_codec is None:
            raise RoomNotLive("the room is not streaming now")
        if len(self.by_id) >= self.max_viewers:
            raise Unavailable("this server is at its viewer limit", retry_after=5.0)
        if offer.video is not None and hub.video_codec not in offer.video_codecs:
            raise UnsupportedCodec(f"this stream is {hub.video_codec}; the offer lacks it")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self.ice_servers))
        playback = Playback("wv_" + secrets.token_urlsafe(12), room_id, viewer_id, pc, {})
        try:
            self._add_tracks(pc, playback, hub, offer)
            await pc.setRemoteDescription(RTCSessionDescription(offer.sdp, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except (InternalError, InvalidAccessError, InvalidStateError, OperationError) as exc:
            await self._discard(playback)
            raise UnsupportedCodec(f"this offer cannot be answered ({exc})") from None
        except BaseException:
            await self._discard(playback)
            raise

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected":
                playback.connected.set()
            elif pc.connectionState in ("failed", "closed"):
                await self.end(playback, pc.connectionState)

        for track in playback.tracks.values():
            # A track ends when the stream does, or when the publisher changed codec: the
            # viewer then negotiates afresh, which it does when its connection closes.
            track.on("ended", lambda: self._spawn(playback, self.end(playback, "track_ended")))
        self.by_id[playback.id] = playback
        metrics.STREAM_VIEWERS.set(len(self.by_id))
        self._spawn(playback, self._connect_or_end(playback))
        self._spawn(playback, self._end_with(playback, hub))
        return playback, pc.localDescription.sdp

    def _add_tracks(
        self, pc: RTCPeerConnection, playback: Playback, hub: Hub, offer: Offer
    ) -> None:
        senders = []
        for kind, codec in (("video", hub.video_codec), ("audio", "opus")):
            if codec is None or (offer.video if kind == "video" else offer.audio) is None:
                continue
            source = hub.source(kind)
            track = ForwardTrack(source)
            sender = pc.addTrack(track)
            taps.forward(sender, source.request_keyframe)
            transceiver = next(t for t in pc.getTransceivers() if t.sender is sender)
            transceiver.setCodecPreferences(preferences(kind, codec))
            playback.tracks[kind] = track
            senders.append(sender)
        taps.share_stream(senders)

    def _spawn(self, playback: Playback, work: object) -> None:
        task = asyncio.ensure_future(work)  # type: ignore[call-overload]
        playback._tasks.add(task)
        task.add_done_callback(playback._tasks.discard)

    async def _connect_or_end(self, playback: Playback) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.connect_timeout_s):
                await playback.connected.wait()
                return
        await self.end(playback, "timeout")

    async def _end_with(self, playback: Playback, hub: Hub) -> None:
        await hub.stopped.wait()
        await self.end(playback, "stream_ended")

    async def end(self, playback: Playback, reason: str) -> None:
        if playback.ended.is_set():
            return
        playback.ended.set()
        self.by_id.pop(playback.id, None)
        metrics.STREAM_VIEWERS.set(len(self.by_id))
        current = asyncio.current_task()
        for task in list(playback._tasks):
            if task is not current:
                task.cancel()
        await self._discard(playback)
        log.debug("playback ended", extra={"room": playback.room_id, "reason": reason})

    async def _discard(self, playback: Playback) -> None:
        for track in playback.tracks.values():
            track.stop()
        await playback.pc.close()

    def count(self, room_id: str) -> int:
        return sum(1 for p in self.by_id.values() if p.room_id == room_id)

    async def close(self) -> None:
        for playback in list(self.by_id.values()):
            await self.end(playback, "shutdown")
