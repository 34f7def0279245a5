"""This process's streams as the rest of the system sees them.

A process that has a room's stream hears the room's events, so the show's end reaches it and
ends the publication, the viewers and the recording. The process a stream is published to
claims it in the room hash (``stream_origin``), so a WHEP offer on another process is sent
there, keeps the claim fresh on a tick, and drops it when the stream ends unless another
process has claimed it since; only the claimant sets and announces the stream's state
(``stream_state.lua``), so a process the studio has left stays quiet. A process that dies
stops refreshing: every process looks for stale claims on the same tick, and
``stream_reap.lua`` takes the stream offline and tells the room, once. A finished recording
becomes a ``replay.ready`` event in the room's history.

The hubs are built with the process, before the store is reached; until ``connect`` their
callbacks here do nothing, as no stream can start before the HTTP routes serve.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from livecommerce.errors import LiveCommerceError
from livecommerce.events import ReplayReady
from livecommerce.media.hub import Hubs, StreamState
from livecommerce.media.plane import Media
from livecommerce.media.recording import Recording
from livecommerce.media.store import MediaStore
from livecommerce.runtime import metrics
from livecommerce.store.history import Store

log = logging.getLogger("livecommerce.media.streams")

Subscription = Callable[[str], Awaitable[object]]


def show_ended(event: dict[str, Any]) -> bool:
    """The room event that ends every stream of the room, wherever it is served."""
    return event.get("type") == "room.state" and event.get("state") == "ended"


def replay_entry(recording: Recording) -> dict[str, Any]:
    """What the room's replays list, and ``replay.ready`` carries, of a recording."""
    return {
        "url": f"/recordings/{recording.path.name}",
        "media_type": recording.media_type,
        "started_at": recording.started_at_ms,
        "ended_at": recording.ended_at_ms,
    }


def originated_here(hubs: Hubs) -> list[str]:
    """The rooms this process streams as their origin (edges are another's to claim)."""
    return [room_id for room_id, hub in hubs.by_room.items() if not hub.edge and hubs.live(room_id)]


@dataclass(frozen=True, slots=True)
class _Connected:
    plane: Media
    store: Store
    media_store: MediaStore
    subscribe: Subscription
    unsubscribe: Subscription


class Streams:
    """The hubs' listener, the claims' tick and the bus's ear for the show's end."""

    def __init__(self, *, claim_s: float, clock: Callable[[], float]) -> None:
        self.claim_s = claim_s
        self.clock = clock
        self._to: _Connected | None = None
        self._ending: set[asyncio.Task[None]] = set()

    @property
    def every_s(self) -> float:
        """Claims are refreshed three times within their freshness, so one late tick is
        not taken for a dead process."""
        return self.claim_s / 3

    def connect(
        self,
        plane: Media,
        store: Store,
        media_store: MediaStore,
        *,
        subscribe: Subscription,
        unsubscribe: Subscription,
    ) -> None:
        self._to = _Connected(plane, store, media_store, subscribe, unsubscribe)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # The hubs' callbacks ------------------------------------------------------------

    async def watch(self, room_id: str, edge: bool) -> None:
        """A process with a room's stream hears its events, so the show's end ends it; the
        one it is published to says so, so WHEP offers on other processes find it."""
        to = self._to
        if to is None:
            return
        await to.subscribe(room_id)
        if not edge:
            plane = to.plane
            await to.media_store.claim_stream(room_id, plane.origin, plane.internal, self._now_ms())

    async def unwatch(self, room_id: str, edge: bool) -> None:
        to = self._to
        if to is None:
            return
        await to.unsubscribe(room_id)
        if not edge:
            await to.media_store.release_stream(room_id, to.plane.origin)

    async def announce(self, room_id: str, state: StreamState) -> None:
        """The room hears that its stream is live, reconnecting or offline."""
        to = self._to
        if to is None:
            return
        plane = to.plane
        if await to.media_store.announce_stream(
            room_id, str(state), plane.origin, plane.internal, self._now_ms()
        ):
            metrics.EVENTS_PUBLISHED.labels("stream.state").inc()

    async def recorded(self, room_id: str, recording: Recording) -> None:
        to = self._to
        if to is None:
            return
        entry = replay_entry(recording)
        await to.media_store.add_recording(room_id, entry)
        await to.store.publish(room_id, ReplayReady(type="replay.ready", recording=entry))

    # The tick -----------------------------------------------------------------------

    async def keep_claims(self) -> None:
        """Say which streams this process still serves (WHEP offers on other processes are
        sent here), and take offline the streams of processes that stopped saying so."""
        to = self._to
        if to is None:
            return
        now = self._now_ms()
        live = originated_here(to.plane.hubs)
        try:
            if live:
                await to.media_store.touch_streams(live, now)
            for _room in await to.media_store.reap_streams(now, int(self.claim_s * 1000)):
                metrics.EVENTS_PUBLISHED.labels("stream.state").inc()
        except LiveCommerceError:
            log.warning("stream claims not kept: the store is unavailable")

    # The bus ------------------------------------------------------------------------

    def heard(self, room_id: str, event: dict[str, Any]) -> None:
        """A room event heard on the bus: the show's end ends its streams here."""
        to = self._to
        if to is None or not show_ended(event):
            return
        plane = to.plane
        if room_id in plane.hubs.by_room or room_id in plane.publications.by_room:
            task = asyncio.ensure_future(plane.publications.end_room(room_id, "show_ended"))
            self._ending.add(task)
            task.add_done_callback(self._ending.discard)
