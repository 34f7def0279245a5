"""Each room's ordered history: its events, their sequence numbers, and the snapshot a joiner
starts from.

Everything that happens in a room is an event with a per-room seq (invariant 6): written to
the room's stream and published on its channel in one script (``room_publish.lua``, or the
concept's own script that makes the change and its event together), so a viewer who resumes
gets exactly what it missed, or learns that it is too old and takes a snapshot. Events without
a seq (viewer counts, stock, reactions) are only published. Reading history back hides the
authors of deleted accounts (``accounts/privacy.py``). ``Store`` also owns the connection the
concept stores share (``connection.py``) and its scripts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis

from livecommerce.accounts.privacy import anonymise, authors
from livecommerce.errors import NotFound
from livecommerce.rooms.rules import Room, room_from_hash
from livecommerce.selling.rules import sale_from_hash, welcome_sales
from livecommerce.store import keys
from livecommerce.store.connection import (
    _strings,
    _text,
    connect,
    guarded,
    pack_event,
    unpack_event,
)
from livecommerce.store.scripts import Scripts

Event = dict[str, Any]


def parse_envelope(data: bytes) -> tuple[int | None, Event]:
    """A pub/sub message is ``<seq>|<payload>``, or ``|<payload>`` for an ephemeral event."""
    head, _, payload = data.partition(b"|")
    event = unpack_event(payload)
    if head:
        seq = int(head)
        event["seq"] = seq
        return seq, event
    return None, event


@dataclass(frozen=True, slots=True)
class Snapshot:
    seq: int
    room: Room
    recent: list[Event]
    pinned: dict[str, Any] | None = None
    sales: list[dict[str, Any]] = field(default_factory=list)
    pinned_chat: dict[str, Any] | None = None


def _entry_event(entry_id: Any, fields: Any) -> Event:
    event = unpack_event(fields[b"d"])
    event["seq"] = int(_text(entry_id).split("-", 1)[0])
    return event


class Store:
    def __init__(self, client: Redis, *, stream_max_len: int = 10_000) -> None:
        self.client = client
        self.scripts = Scripts(client)
        self.stream_max_len = stream_max_len

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Store:
        return cls(connect(url), **kwargs)

    async def close(self) -> None:
        await self.client.aclose()
        await self.client.connection_pool.disconnect()

    @guarded
    async def ping(self) -> bool:
        return bool(await self.client.ping())

    # Reading back ----------------------------------------------------------------------

    @guarded
    async def deleted_among(self, user_ids: set[str]) -> set[str]:
        """Which of these people deleted their accounts (one round trip)."""
        if not user_ids:
            return set()
        ids = sorted(user_ids)
        flags = await self.client.smismember(keys.deleted_accounts(), ids)
        return {i for i, flag in zip(ids, flags, strict=True) if flag}

    async def anonymised(self, events: list[Event]) -> list[Event]:
        """The events with lines by deleted accounts shown as by nobody (privacy.py)."""
        return anonymise(events, await self.deleted_among(authors(events)))

    # Events --------------------------------------------------------------------------

    @guarded
    async def publish(self, room_id: str, event: Event) -> int:
        seq = await self.scripts.room_publish(
            keys=[keys.room_seq(room_id), keys.room_events(room_id)],
            args=[keys.room_channel(room_id), self.stream_max_len, pack_event(event)],
        )
        return int(seq)

    @guarded
    async def publish_ephemeral(self, room_id: str, event: Event) -> None:
        await self.client.publish(keys.room_channel(room_id), b"|" + pack_event(event))

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
        room_fields = _strings(room_raw)
        room = room_from_hash(room_fields)
        events = [_entry_event(entry_id, fields) for entry_id, fields in reversed(entries)]
        pinned = orjson.loads(room_fields["pinned"]) if room_fields.get("pinned") else None
        sales: list[dict[str, Any]] = []
        if sale_ids:
            # Sales are read after the snapshot: they may run a step ahead of its seq, and
            # clients treat sale events as idempotent by sale id.
            async with self.client.pipeline(transaction=False) as pipe:
                for sale_id in sale_ids:
                    pipe.hgetall(keys.sale(room_id, _text(sale_id))[0])
                rows = await pipe.execute()
            found = [sale_from_hash(_strings(row)) for row in rows if row]
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
        return Snapshot(int(seq_raw or 0), room, events, pinned, sales, pinned_chat)

    @guarded
    async def events_after(
        self, room_id: str, since: int, until: int | None = None
    ) -> list[Event] | None:
        """Events with ``since < seq <= until`` in order, or None when some are gone."""
        if until is not None and until <= since:
            return []
        end = f"{until}-1" if until is not None else "+"
        entries = await self.client.xrange(keys.room_events(room_id), min=f"{since + 1}-0", max=end)
        events = [_entry_event(entry_id, fields) for entry_id, fields in entries or []]
        expected_first = since + 1
        if events and events[0]["seq"] != expected_first:
            return None
        if not events and since > 0:
            # Either nothing happened since, or the history was trimmed past it.
            current = int(await self.client.get(keys.room_seq(room_id)) or 0)
            if current > since:
                return None
        return events

    @guarded
    async def current_seq(self, room_id: str) -> int:
        return int(await self.client.get(keys.room_seq(room_id)) or 0)
