"""WHIP ingest: one publication per room, its peer connection, and its end.

A room has at most one publisher. A new WHIP session for a room that is already publishing
replaces the old one (the studio reconnecting after a network change), and a publisher that
vanishes without DELETE is ended when its connection fails, or when it never connects
within ``connect_timeout_s``. Answers carry every candidate (aiortc gathers before it
answers), so no trickle is needed, as RFC 9725 allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError

from livecommerce import metrics
from streams.hub import Hub, Hubs
from streams.offers import Offer, UnsupportedCodec, preferences

log = logging.getLogger("livecommerce.streams")

CONNECT_TIMEOUT_S = 30.0
STOPS_STREAM = frozenset({"deleted", "show_ended", "shutdown"})  # the rest wait for a return

Ended = Callable[["Publication", str], Awaitable[None]]


@dataclass(eq=False)
class Publication:
    id: str
    room_id: str
    host_id: str
    pc: RTCPeerConnection
    offer: Offer
    started_at: float = field(default_factory=time.time)
    tracks: dict[str, MediaStreamTrack] = field(default_factory=dict)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)


class Publications:
    """This process's publications, by room and by session id."""

    def __init__(
        self,
        hubs: Hubs,
        ice_servers: list[RTCIceServer] | None = None,
        *,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        on_ended: Ended | None = None,
    ) -> None:
        self.hubs = hubs
        self.ice_servers = ice_servers or []
        self.connect_timeout_s = connect_timeout_s
        self.on_ended = on_ended
        self.by_room: dict[str, Publication] = {}
        self.by_id: dict[str, Publication] = {}

    async def publish(self, room_id: str, host_id: str, offer: Offer) -> tuple[Publication, str]:
        """Answer a host's offer; the publication and the answer SDP."""
        previous = self.by_room.get(room_id)
        if previous is not None:
            await self.end(previous, "replaced")
        hub = await self.hubs.open(room_id)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self.ice_servers))
        publication = Publication("wp_" + secrets.token_urlsafe(12), room_id, host_id, pc, offer)
        codecs = {"video": offer.video, "audio": offer.audio}
        for kind, codec in codecs.items():
            if codec is not None:
                # One codec per kind, so the publisher cannot switch under the viewers.
                transceiver = pc.addTransceiver(kind, direction="recvonly")
                transceiver.setCodecPreferences(preferences(kind, codec))

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            publication.tracks[track.kind] = track
            receiver = next(t.receiver for t in pc.getTransceivers() if t.receiver.track is track)
            codec = codecs.get(track.kind)
            if codec is not None:
                hub.attach(track.kind, receiver, codec)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected":
                publication.connected.set()
            elif pc.connectionState in ("failed", "closed"):
                await self.end(publication, pc.connectionState)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer.sdp, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except (InternalError, InvalidAccessError, InvalidStateError, OperationError) as exc:
            # The offer passed our checks but aiortc cannot answer it: a codec profile it
            # does not do (H.264 High only, say) is the usual reason.
            await pc.close()
            raise UnsupportedCodec(
                "this offer cannot be answered: offer VP8, or H.264 constrained baseline"
                f" (packetization-mode=1), with Opus ({exc})"
            ) from None
        except BaseException:
            await pc.close()
            raise
        self.by_room[room_id] = publication
        self.by_id[publication.id] = publication
        for work in (self._connect_or_end(publication), self._end_with(publication, hub)):
            task = asyncio.ensure_future(work)
            publication._tasks.add(task)
            task.add_done_callback(publication._tasks.discard)
        metrics.STREAM_PUBLISHERS.set(len(self.by_id))
        return publication, pc.localDescription.sdp

    async def _end_with(self, publication: Publication, hub: Hub) -> None:
        """A stream that ends (its publisher silent past the grace) takes the session along."""
        await hub.stopped.wait()
        await self.end(publication, "stream_ended")

    async def _connect_or_end(self, publication: Publication) -> None:
        """A publisher that never connects is cleaned up, as one that vanishes is."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.connect_timeout_s):
                await publication.connected.wait()
                return
        await self.end(publication, "timeout")

    async def end(self, publication: Publication, reason: str) -> None:
        """End a publication once, whatever ends it (DELETE, failure, timeout, a new one)."""
        if publication.ended.is_set():
            return
        publication.ended.set()
        if self.by_room.get(publication.room_id) is publication:
            del self.by_room[publication.room_id]
        self.by_id.pop(publication.id, None)
        metrics.STREAM_PUBLISHERS.set(len(self.by_id))
        current = asyncio.current_task()
        for task in list(publication._tasks):
            if task is not current:
                task.cancel()
        await publication.pc.close()
        if reason in STOPS_STREAM:
            await self.hubs.stop(publication.room_id, reason)
        elif publication.room_id not in self.by_room:
            hub = self.hubs.live(publication.room_id)
            if hub is not None:
                hub.publisher_lost()
        log.info(
            "publication ended",
            extra={"room": publication.room_id, "session": publication.id, "reason": reason},
        )
        if self.on_ended is not None:
            await self.on_ended(publication, reason)

    async def end_room(self, room_id: str, reason: str) -> None:
        """The show is over: its publication (if here) and its stream end."""
        publication = self.by_room.get(room_id)
        if publication is not None:
            await self.end(publication, reason)
        await self.hubs.stop(room_id, reason)

    async def close(self) -> None:
        for publication in list(self.by_id.values()):
            await self.end(publication, "shutdown")
