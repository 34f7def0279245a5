"""What a room's channel reads back: the snapshot a joiner starts from and catch-ups.

The room's order itself is the store's (``store/history.py``); reading it back for people
also needs the room, its sales and who deleted their account, which is why it sits here,
above those concepts: a welcome shows the room's active sales, and lines by a deleted
account shown as by nobody (``accounts/privacy.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from livecommerce.accounts.privacy import anonymise, authors
from livecommerce.errors import NotFound
from livecommerce.events import Event
from livecommerce.rooms.rules import Room, room_from_hash
from livecommerce.selling.rules import sale_from_hash, welcome_sales
from livecommerce.store import keys
from livecommerce.store.connection import as_strings, as_text, guarded, unpack_event
from livecommerce.store.history import Store, entry_event


@dataclass(frozen=True, slots=True)
class Snapshot:
    seq: int
    room: Room
    recent: list[Event]
    pinned: dict[str, Any] | None = None
    sales: list[dict[str, Any]] = field(default_factory=list)
    pinned_chat: dict[str, Any] | None = None
    auctions: list[dict[str, Any]] = field(default_factory=list)
    giveaway: dict[str, Any] | None = None
    polls: dict[str, Any] = field(default_factory=lambda: {"live": None, "last": None})
    group_buys: list[dict[str, Any]] = field(default_factory=list)


class RoomReader:
    """The store's history, read for people."""

    def __init__(
        self, store: Store, lots: Callable[[str], Awaitable[list[Event]]] | None = None
    ) -> None:
        """``lots``: the room's auction lots a joiner sees (auctions/service.py)."""
        self.store = store
        self.client = store.client
        self.lots = lots
        # The room's running giveaway, or its last result (giveaways/service.py).
        self.giveaway: Callable[[str], Awaitable[Event | None]] | None = None
        self.polls: Callable[[str], Awaitable[dict[str, Any]]] | None = None  # polls/service.py
        self.group_buys: Callable[[str], Awaitable[list[Event]]] | None = None

    async def events_after(
        self, room_id: str, since: int, until: int | None = None
    ) -> list[Event] | None:
        return await self.store.events_after(room_id, since, until)

    async def current_seq(self, room_id: str) -> int:
        return await self.store.current_seq(room_id)

    async def raise_seq(self, room_id: str, delivered: int) -> int:
        return await self.store.raise_seq(room_id, delivered)

    @guarded
    async def deleted_among(self, user_ids: set[str]) -> set[str]:
        """Which of these people deleted their accounts (one pipeline: a cluster client
        splits it by node, each flag in its person's slot)."""
        if not user_ids:
            return set()
        ids = sorted(user_ids)
        async with self.client.pipeline(transaction=False) as pipe:
            for user_id in ids:
                pipe.exists(keys.account_deleted(user_id))
            flags = await pipe.execute()
        return {i for i, flag in zip(ids, flags, strict=True) if flag}

    async def anonymised(self, events: list[Event]) -> list[Event]:
        """The events with lines by deleted accounts shown as by nobody (privacy.py)."""
        return anonymise(events, await self.deleted_among(authors(events)))

    @guarded
    async def snapshot(self, room_id: str, recent: int = 300) -> Snapshot:
        """The room, its last seq and its most recent events, read atomically."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.get(keys.room_seq(room_id))
            pipe.hgetall(keys.room(room_id))
            pipe.xrevrange(keys.room_events(room_id), count=recent)
            pipe.zrevrange(keys.room_sales(room_id), 0, 9)
            seq_raw, room_raw, entries, sale_ids = await pipe.execute()
        if not room_raw:
            raise NotFound(f"room {room_id} does not exist")
        room_fields = as_strings(room_raw)
        room = room_from_hash(room_fields)
        events = [entry_event(entry_id, fields) for entry_id, fields in reversed(entries)]
        pinned = orjson.loads(room_fields["pinned"]) if room_fields.get("pinned") else None
        sales: list[dict[str, Any]] = []
        if sale_ids:
            # Sales are read after the snapshot: they may run a step ahead of its seq, and
            # clients treat sale events as idempotent by sale id.
            async with self.client.pipeline(transaction=False) as pipe:
                for sale_id in sale_ids:
                    pipe.hgetall(keys.sale(room_id, as_text(sale_id))[0])
                rows = await pipe.execute()
            found = [sale_from_hash(as_strings(row)) for row in rows if row]
            pinned_id = pinned.get("id") if isinstance(pinned, dict) else None
            sales = [sale.to_public() for sale in welcome_sales(found, pinned_id)]
        events = await self.anonymised(events)
        pinned_chat = None
        if room_fields.get("pinned_chat"):
            raw = await self.client.hget(keys.room_chat(room_id), room_fields["pinned_chat"])
            if raw is not None:
                head, _, payload = (raw if isinstance(raw, bytes) else raw.encode()).partition(b"|")
                line = unpack_event(payload)
                pinned_chat = {k: v for k, v in line.items() if k in ("id", "user", "text", "at")}
                pinned_chat["seq"] = int(head)
                pinned_chat = (await self.anonymised([pinned_chat]))[0]
        # Like sales, read after the snapshot: apply auction events idempotently by lot id.
        lots = await self.anonymised(await self.lots(room_id)) if self.lots is not None else []
        groups = await self.group_buys(room_id) if self.group_buys is not None else []
        giveaway = await self.giveaway(room_id) if self.giveaway is not None else None
        polls = (
            await self.polls(room_id) if self.polls is not None else {"live": None, "last": None}
        )
        return Snapshot(
            int(seq_raw or 0),
            room,
            events,
            pinned,
            sales,
            pinned_chat,
            lots,
            giveaway=giveaway,
            polls=polls,
            group_buys=groups,
        )
