"""Each room's ordered history: its events and their sequence numbers.

Everything that happens in a room is an event with a per-room seq (invariant 6): written to
the room's stream and published on its channel in one script (``room_publish.lua``, or the
concept's own script that makes the change and its event together), so a viewer who resumes
gets exactly what it missed, or learns that it is too old and takes a snapshot. Events without
a seq (viewer counts, stock, reactions) are only published. What a joiner starts from (the
snapshot) is read by ``realtime/snapshots.py``, which knows rooms, sales and deleted
accounts; this layer knows none of them. ``Store`` also owns the connection the
concept stores share (``connection.py``) and its scripts.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from livecommerce.events import Event, Outgoing, RoomEvent
from livecommerce.store import keys
from livecommerce.store.connection import (
    as_text,
    connect,
    guarded,
    pack_event,
    unpack_event,
)
from livecommerce.store.scripts import Scripts


def parse_envelope(data: bytes) -> tuple[int | None, Event]:
    """A pub/sub message is ``<seq>|<payload>``, or ``|<payload>`` for an ephemeral event."""
    head, _, payload = data.partition(b"|")
    event = unpack_event(payload)
    if head:
        seq = int(head)
        event["seq"] = seq
        return seq, event
    return None, event


def entry_event(entry_id: Any, fields: Any) -> Event:
    event = unpack_event(fields[b"d"])
    event["seq"] = int(as_text(entry_id).split("-", 1)[0])
    return event


class Store:
    def __init__(self, client: Redis, *, stream_max_len: int = 10_000) -> None:
        self.client = client
        self.scripts = Scripts(client)
        self.stream_max_len = stream_max_len

    @classmethod
    def from_url(cls, url: str, *, cluster: bool = False, **kwargs: Any) -> Store:
        return cls(connect(url, cluster=cluster), **kwargs)

    async def close(self) -> None:
        await self.client.aclose()
        pool = getattr(self.client, "connection_pool", None)  # a cluster client has none
        if pool is not None:
            await pool.disconnect()

    @guarded
    async def ping(self) -> bool:
        return bool(await self.client.ping())

    # Events --------------------------------------------------------------------------

    @guarded
    async def publish(self, room_id: str, event: RoomEvent) -> int:
        seq = await self.scripts.room_publish(
            keys=[keys.room_seq(room_id), keys.room_events(room_id)],
            args=[keys.room_channel(room_id), self.stream_max_len, pack_event(event)],
        )
        return int(seq)

    @guarded
    async def publish_ephemeral(self, room_id: str, event: Outgoing | Event) -> None:
        await self.client.spublish(keys.room_channel(room_id), b"|" + pack_event(event))

    @guarded
    async def events_after(
        self, room_id: str, since: int, until: int | None = None
    ) -> list[Event] | None:
        """Events with ``since < seq <= until`` in order, or None when some are gone."""
        if until is not None and until <= since:
            return []
        end = f"{until}-1" if until is not None else "+"
        entries = await self.client.xrange(keys.room_events(room_id), min=f"{since + 1}-0", max=end)
        events = [entry_event(entry_id, fields) for entry_id, fields in entries or []]
        expected_first = since + 1
        if events and events[0]["seq"] != expected_first:
            return None
        if not events and since > 0:
            # Either nothing happened since, or the history was trimmed past it.
            current = int(await self.client.get(keys.room_seq(room_id)) or 0)
            if current != since:  # trimmed past it, or (a failover) taken back below it
                return None
        return events

    @guarded
    async def raise_seq(self, room_id: str, delivered: int) -> int:
        """Lift the room's seq counter to ``delivered`` if a failover took it back."""
        return int(
            await self.scripts.room_seq_raise(keys=[keys.room_seq(room_id)], args=[delivered])
        )

    @guarded
    async def current_seq(self, room_id: str) -> int:
        return int(await self.client.get(keys.room_seq(room_id)) or 0)
