"""What a process does with what its bus hears.

The bus holds one pub/sub connection for the whole process; this hands what it hears to the
parts that care: room events to the room's channel (and to anyone else listening for room
events, such as the media plane, which ends its streams when the show ends), the store going
away and coming back to the rooms concerned and to the gateway, and a sign-out to the gateway.

The bus starts before the gateway exists (the gateway needs the channels, which need the
bus), so the gateway is given here once it is built; until then there is no socket to tell.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from livecommerce.events import Event, Unavailable
from livecommerce.realtime.channels import Channels
from livecommerce.realtime.gateway import Gateway

log = logging.getLogger("livecommerce.realtime.listener")

RoomListener = Callable[[str, Event], None]

UNAVAILABLE_RETRY_S = 2


class BusListener:
    def __init__(self, *room_listeners: RoomListener) -> None:
        self.room_listeners = room_listeners
        self.channels: Channels | None = None
        self.gateway: Gateway | None = None
        self._background: set[asyncio.Task[None]] = set()

    def event(self, room_id: str, seq: int | None, event: Event) -> None:
        for listener in self.room_listeners:
            listener(room_id, event)
        if self.channels is not None:
            self.channels.dispatch(room_id, seq, event)

    def down(self, room_ids: list[str]) -> None:
        """These rooms' link to the store broke: they are told, and their sockets stay open."""
        if self.channels is None or not room_ids:
            return
        log.warning("store unreachable; %d rooms told", len(room_ids))
        for room_id in room_ids:
            channel = self.channels.rooms.get(room_id)
            if channel is not None:
                channel.deliver_local(
                    Unavailable(type="unavailable", retry_after=UNAVAILABLE_RETRY_S)
                )

    def up(self, room_ids: list[str]) -> None:
        """These rooms hear again (the store came back, or their slot moved): they read back
        what they missed."""
        if self.channels is None:
            return
        for room_id in room_ids:
            channel = self.channels.rooms.get(room_id)
            if channel is not None:
                channel.resync()

    def revocations_up(self) -> None:
        """Sign-outs that pub/sub may have lost while the bus was away are asked of the
        store."""
        if self.gateway is not None:
            self._run(self.gateway.recheck_revocations())

    def revoked(self, session: str) -> None:
        if self.gateway is not None:
            self.gateway.revoke(session)

    def _run(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("background work failed: %r", task.exception())
