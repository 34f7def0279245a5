"""WHIP ingest: one publication per room, its peer connection, and its end.

A room has at most one publisher. A new WHIP session for a room that is already publishing
replaces the old one (the studio reconnecting after a network change), and a publisher that
vanishes without DELETE is ended when its connection fails, or when it never connects
within ``connect_timeout_s``. Answers carry every candidate (aiortc gathers before it
answers), so no trickle is needed, as RFC 9725 allows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from aiortc import MediaStreamTrack, RTCIceServer

from livecommerce.media.hub import Hubs
from livecommerce.media.offers import Offer, preferences
from livecommerce.media.sessions import CONNECT_TIMEOUT_S, Session, answer, peer, watch
from livecommerce.runtime import metrics
from livecommerce.runtime.ids import Ids

log = logging.getLogger("livecommerce.streams")

STOPS_STREAM = frozenset({"deleted", "show_ended", "shutdown"})  # the rest wait for a return
# The host's page is going away (a reload, a closed tab): the host is likely back soon, so
# viewers see the stream reconnecting, not over.
LEAVING = "leaving"


@dataclass(eq=False, kw_only=True)
class Publication(Session):
    host_id: str
    offer: Offer
    tracks: dict[str, MediaStreamTrack] = field(default_factory=dict)


class Publications:
    """This process's publications, by room and by session id."""

    def __init__(
        self,
        hubs: Hubs,
        ice_servers: list[RTCIceServer] | None = None,
        *,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        ids: Ids | None = None,
    ) -> None:
        self.ids = ids or Ids()
        self.hubs = hubs
        self.ice_servers = ice_servers or []
        self.connect_timeout_s = connect_timeout_s
        self.by_room: dict[str, Publication] = {}
        self.by_id: dict[str, Publication] = {}

    async def publish(self, room_id: str, host_id: str, offer: Offer) -> tuple[Publication, str]:
        """Answer a host's offer; the publication and the answer SDP."""
        previous = self.by_room.get(room_id)
        if previous is not None:
            await self.end(previous, "replaced")
        hub = await self.hubs.open(room_id)
        pc = peer(self.ice_servers)
        publication = Publication(
            id=self.ids.publication(),
            room_id=room_id,
            pc=pc,
            host_id=host_id,
            offer=offer,
        )
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

        sdp = await answer(
            pc,
            offer.sdp,
            "this offer cannot be answered: offer VP8, or H.264 constrained baseline"
            " (packetization-mode=1), with Opus",
        )
        self.by_room[room_id] = publication
        self.by_id[publication.id] = publication
        metrics.STREAM_PUBLISHERS.set(len(self.by_id))

        async def end(reason: str) -> None:
            await self.end(publication, reason)

        watch(publication, hub, end, self.connect_timeout_s)
        return publication, sdp

    async def end(self, publication: Publication, reason: str) -> None:
        """End a publication once, whatever ends it (DELETE, failure, timeout, a new one)."""
        if not publication.finish():
            return
        if self.by_room.get(publication.room_id) is publication:
            del self.by_room[publication.room_id]
        self.by_id.pop(publication.id, None)
        metrics.STREAM_PUBLISHERS.set(len(self.by_id))
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

    async def end_room(self, room_id: str, reason: str) -> None:
        """The show is over: its publication (if here) and its stream end."""
        publication = self.by_room.get(room_id)
        if publication is not None:
            await self.end(publication, reason)
        await self.hubs.stop(room_id, reason)

    async def close(self) -> None:
        for publication in list(self.by_id.values()):
            await self.end(publication, "shutdown")
