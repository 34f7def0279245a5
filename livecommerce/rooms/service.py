"""The room desk: shows created, read and listed, taken live and ended, their disclosure and
their viewer counts, for HTTP, WHIP and the socket alike.

Each action reads the room as stored now, applies the pure rules of ``rules.py`` (only the
host may; a state follows only the states it may follow) and then has the store make the
change iff the room is still in the state it was read in. Pressing Go live in the studio and
OBS starting to publish over WHIP are the same action here, so they cannot drift apart.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from livecommerce.accounts.auth import Identity
from livecommerce.events import Event, RoomDisclosure
from livecommerce.rooms.rules import Room, RoomDraft, RoomState, state_event
from livecommerce.rooms.store import RoomStore
from livecommerce.runtime import metrics
from livecommerce.runtime.ids import Ids
from livecommerce.store.history import Store


class Rooms:
    def __init__(
        self,
        store: Store,
        rooms: RoomStore,
        *,
        clock: Callable[[], float] = time.time,
        on_sale_event: Callable[[str, str, Event], Awaitable[None]] | None = None,
        on_ended: Callable[[Room], Awaitable[None]] | None = None,
        on_changed: Callable[[Room], Awaitable[None]] | None = None,
        ids: Ids | None = None,
    ) -> None:
        self.store = store
        self.rooms = rooms
        self.clock = clock
        self.ids = ids or Ids()
        self.on_sale_event = on_sale_event
        self.on_ended = on_ended  # what else ends with the show (its auction lots)
        self.on_changed = on_changed  # a show created or gone live (its notices to followers)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # Reading ---------------------------------------------------------------------------

    async def room(self, room_id: str) -> Room:
        return await self.rooms.room(room_id)

    async def listing(self, state: RoomState | None, host_id: str | None, limit: int) -> list[Room]:
        """Rooms in ``state`` (or the host's own), in the order of their index."""
        found = await self.rooms.rooms(await self.rooms.room_ids(state, host_id, limit))
        if state is not None:
            found = [r for r in found if r.state is state]  # the indexes heal on their own
        return found

    async def hosted(self, who: Identity, room_id: str) -> Room:
        """The room as stored now, if ``who`` hosts it."""
        room = await self.rooms.room(room_id)
        room.require_host(who.id)
        return room

    async def for_publishing(self, who: Identity, room_id: str) -> Room:
        """The room its host may stream to now: any but an ended one."""
        room = await self.hosted(who, room_id)
        room.require_open()
        return room

    # Changing --------------------------------------------------------------------------

    async def create(
        self, who: Identity, draft: RoomDraft, *, moderators: tuple[str, ...] = ()
    ) -> Room:
        """A new show, scheduled, with ``who`` as its host."""
        ids = self.ids
        room = draft.to_room(ids.room(), who.id, who.name, self.now_ms(), ids.epoch(), moderators)
        await self.rooms.create_room(room)
        if self.on_changed is not None:
            await self.on_changed(room)
        return room

    async def transition(self, who: Identity, room: Room, to: RoomState) -> Room:
        """Take the show live or end it; an end stops its running sales in the same step."""
        room.require_host(who.id)
        now = self.now_ms()
        moved = room.transition(to, now)
        event = state_event(to, now)
        if to is RoomState.ENDED:
            _seq, stopped = await self.rooms.end_room(room, now, event)
            for sale_id in stopped:
                metrics.EVENTS_PUBLISHED.labels("sale.ended").inc()
                if self.on_sale_event is not None:
                    await self.on_sale_event(
                        room.id, "sale.ended", {"sale_id": sale_id, "reason": "stopped"}
                    )
            if self.on_ended is not None:
                await self.on_ended(moved)
        else:
            await self.rooms.transition_room(room, to, now, event)
            if self.on_changed is not None:
                await self.on_changed(moved)
        metrics.EVENTS_PUBLISHED.labels("room.state").inc()
        return moved

    async def disclose(self, who: Identity, room: Room, paid_partnership: bool) -> Room:
        """Say (or stop saying) that the show is a paid partnership; the room hears it at once."""
        room.require_host(who.id)
        await self.rooms.set_room_field(
            room.id, "paid_partnership", "1" if paid_partnership else ""
        )
        await self.store.publish(
            room.id, RoomDisclosure(type="room.disclosure", paid_partnership=paid_partnership)
        )
        return await self.rooms.room(room.id)

    # Viewers ---------------------------------------------------------------------------

    async def report_viewers(
        self, room_id: str, process_id: str, count: int, now: int, ttl_ms: int
    ) -> int:
        """This process's viewer count for the room in; the room's total over processes out."""
        return await self.rooms.report_viewers(room_id, process_id, count, now, ttl_ms)
