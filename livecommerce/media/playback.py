"""WHEP playback: a viewer's connection, fed the room's frames as the publisher encoded them.

Each viewer has a track per kind that queues the hub's frames for its sender. A track that
falls behind (a slow viewer) drops its backlog and waits for the next keyframe rather than
growing without bound or slowing anyone else. A track never fails while the room is live:
aiortc stops a sender for good when its track raises, and a viewer must survive the
publisher's reconnect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc import MediaStreamTrack, RTCIceServer, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError

from livecommerce.errors import RoomNotLive, Unavailable
from livecommerce.media import taps
from livecommerce.media.frames import EncodedFrame
from livecommerce.media.hub import Hub, Hubs, Source
from livecommerce.media.offers import Offer, UnsupportedCodec, preferences
from livecommerce.media.sessions import CONNECT_TIMEOUT_S, Session, answer, peer, watch
from livecommerce.runtime import metrics
from livecommerce.runtime.ids import Ids

log = logging.getLogger("livecommerce.streams")

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
            metrics.SLOW_VIEWERS.inc()
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


@dataclass(eq=False, kw_only=True)
class Playback(Session):
    viewer_id: str | None
    tracks: dict[str, ForwardTrack] = field(default_factory=dict)


class Playbacks:
    """This process's WHEP sessions."""

    def __init__(
        self,
        hubs: Hubs,
        ice_servers: list[RTCIceServer] | None = None,
        *,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        max_viewers: int = MAX_VIEWERS,
        on_left: Callable[[str, int], None] | None = None,
        ids: Ids | None = None,
    ) -> None:
        self.ids = ids or Ids()
        self.hubs = hubs
        self.on_left = on_left
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
        pc = peer(self.ice_servers)
        playback = Playback(id=self.ids.playback(), room_id=room_id, pc=pc, viewer_id=viewer_id)
        self._add_tracks(pc, playback, hub, offer)
        sdp = await answer(pc, offer.sdp, "this offer cannot be answered")

        async def end(reason: str) -> None:
            await self.end(playback, reason)

        for track in playback.tracks.values():
            # A track ends when the stream does, or when the publisher changed codec: the
            # viewer then negotiates afresh, which it does when its connection closes.
            track.on("ended", lambda: playback.spawn(end("track_ended")))
        self.by_id[playback.id] = playback
        metrics.STREAM_VIEWERS.set(len(self.by_id))
        watch(playback, hub, end, self.connect_timeout_s)
        return playback, sdp

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

    async def end(self, playback: Playback, reason: str) -> None:
        if not playback.finish():
            return
        self.by_id.pop(playback.id, None)
        metrics.STREAM_VIEWERS.set(len(self.by_id))
        for track in playback.tracks.values():
            track.stop()
        await playback.pc.close()
        if self.on_left is not None:
            self.on_left(playback.room_id, self.count(playback.room_id))
        log.debug("playback ended", extra={"room": playback.room_id, "reason": reason})

    def count(self, room_id: str) -> int:
        return sum(1 for p in self.by_id.values() if p.room_id == room_id)

    async def close(self) -> None:
        for playback in list(self.by_id.values()):
            await self.end(playback, "shutdown")
