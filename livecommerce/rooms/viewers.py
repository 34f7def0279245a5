"""Viewer counts: each process reports its own, and tells its sockets the room's total.

A room's viewers may be spread over many processes. Each process writes how many sockets it
holds per room into the room's viewer hash (``room_viewers.lua``; an entry expires when its
process stops reporting, so a dead process's viewers drop out within ``TTL_MS``) and reads
back the sum in the same step. Its own sockets hear the total only when it has changed: the
count is ephemeral, never replayed, and a steady room sends nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sized
from typing import Protocol

from livecommerce.events import Viewers

EVERY_S = 1.0
TTL_MS = 5000

Report = Callable[[str, str, int, int, int], Awaitable[int]]
"""(room id, process id, sockets here, now ms, ttl ms) -> the room's total."""


class LocalRoom(Protocol):
    """A room as this process serves it: its sockets, and the total they last heard."""

    @property
    def room_id(self) -> str: ...

    @property
    def members(self) -> Sized: ...

    viewers_reported: int

    def deliver_local(self, event: Viewers) -> None: ...


def viewers_event(total: int, reported: int) -> Viewers | None:
    """What the room's sockets are told, if anything, when the total is ``total``."""
    if total == reported:
        return None
    return Viewers(type="viewers", count=total)


class ViewerCounts:
    """One round a tick: report every room this process serves, tell what changed."""

    def __init__(
        self,
        rooms: Mapping[str, LocalRoom],
        report: Report,
        *,
        process_id: str,
        clock: Callable[[], float],
    ) -> None:
        self.rooms = rooms
        self.report = report
        self.process_id = process_id
        self.clock = clock

    async def tick(self) -> None:
        """Report each room; a store error ends the round (the next one reports again)."""
        now = int(self.clock() * 1000)
        for room in list(self.rooms.values()):
            total = await self.report(room.room_id, self.process_id, len(room.members), now, TTL_MS)
            event = viewers_event(total, room.viewers_reported)
            if event is not None:
                room.viewers_reported = total
                room.deliver_local(event)
