"""Rooms in Redis: the room hash, its indexes, its state changes, pins and viewer counts.

A state change and the ``room.state`` event announcing it are one script, and so are a pin
and its event; ending a show stops its running sales in the same step (``room_end.lua``), so
no reserve lands after the end. The rules (who may, which states follow which) are the
caller's: this module only makes the change stick iff the room is still as it was read.
"""

from __future__ import annotations

from typing import Any

import orjson
from redis.asyncio import Redis

from livecommerce import events
from livecommerce.errors import Conflict, NotFound, RoomNotLive, Unavailable
from livecommerce.events import ProductPinned, ProductUnpinned, SaleEnded
from livecommerce.rooms.rules import Room, RoomState, room_from_hash, room_to_hash
from livecommerce.store import keys
from livecommerce.store.connection import as_strings, as_text, guarded, pack_event
from livecommerce.store.scripts import Scripts

END_ATTEMPTS = 5


class RoomStore:
    def __init__(self, client: Redis, scripts: Scripts, *, stream_max_len: int) -> None:
        self.client = client
        self.scripts = scripts
        self.stream_max_len = stream_max_len

    @guarded
    async def create_room(self, room: Room) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(keys.room(room.id), mapping=room_to_hash(room))  # type: ignore[arg-type]
            pipe.zadd(
                keys.rooms_index(str(room.state)), {room.id: room.scheduled_at or room.created_at}
            )
            pipe.zadd(keys.rooms_by_host(room.host_id), {room.id: room.created_at})
            await pipe.execute()

    @guarded
    async def room(self, room_id: str) -> Room:
        raw = await self.client.hgetall(keys.room(room_id))
        if not raw:
            raise NotFound(f"room {room_id} does not exist")
        return room_from_hash(as_strings(raw))

    @guarded
    async def rooms(self, ids: list[str]) -> list[Room]:
        async with self.client.pipeline(transaction=False) as pipe:
            for room_id in ids:
                pipe.hgetall(keys.room(room_id))
            results = await pipe.execute()
        return [room_from_hash(as_strings(raw)) for raw in results if raw]

    @guarded
    async def room_ids(self, state: RoomState | None, host_id: str | None, limit: int) -> list[str]:
        """Newest first, except upcoming rooms, which come soonest first."""
        if host_id:
            ids = await self.client.zrevrange(keys.rooms_by_host(host_id), 0, limit - 1)
        elif state is RoomState.SCHEDULED:
            ids = await self.client.zrange(keys.rooms_index(str(state)), 0, limit - 1)
        else:
            ids = await self.client.zrevrange(keys.rooms_index(str(state)), 0, limit - 1)
        return [as_text(i) for i in ids]

    @guarded
    async def transition_room(
        self, room: Room, to: RoomState, now: int, event: events.RoomState
    ) -> int:
        """Move the stored room to ``to`` iff it is still in ``room.state``; the event's seq.

        Ending a show is ``end_room``: it stops the show's sales in the same step."""
        if to is RoomState.ENDED:
            raise ValueError("end a room with end_room, which ends its sales with it")
        field = "started_at" if to is RoomState.LIVE else "ended_at"
        status, value = await self.scripts.room_transition(
            keys=[keys.room(room.id), keys.room_seq(room.id), keys.room_events(room.id)],
            args=[
                keys.room_channel(room.id),
                self.stream_max_len,
                str(room.state),
                str(to),
                field,
                now,
                pack_event(event),
            ],
        )
        if status == -1:
            raise NotFound(f"room {room.id} does not exist")
        if status == 0:
            raise Conflict(f"the room is {as_text(value)}; it cannot become {to}")
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zrem(keys.rooms_index(str(room.state)), room.id)
            pipe.zadd(keys.rooms_index(str(to)), {room.id: now})
            await pipe.execute()
        return int(value)

    @guarded
    async def end_room(
        self, room: Room, now: int, event: events.RoomState
    ) -> tuple[int, list[str]]:
        """End the show and stop its running sales in one script; (seq, stopped sales).

        The script is told how many sales the room had when their states were read here; a
        sale started in between makes it refuse, and the read is done again.
        """
        for _attempt in range(END_ATTEMPTS):
            sale_ids = [
                as_text(i) for i in await self.client.zrange(keys.room_sales(room.id), 0, -1)
            ]
            async with self.client.pipeline(transaction=False) as pipe:
                for sale_id in sale_ids:
                    pipe.hget(keys.sale(room.id, sale_id)[0], "state")
                states = await pipe.execute()
            running = [i for i, state in zip(sale_ids, states, strict=True) if state == b"active"]
            ended_events = [
                pack_event(SaleEnded(type="sale.ended", sale_id=i, reason="stopped"))
                for i in running
            ]
            raw = await self.scripts.room_end(
                keys=[
                    keys.room(room.id),
                    keys.room_seq(room.id),
                    keys.room_events(room.id),
                    keys.room_sales(room.id),
                    *(keys.sale(room.id, i)[0] for i in running),
                ],
                args=[
                    keys.room_channel(room.id),
                    self.stream_max_len,
                    str(room.state),
                    now,
                    pack_event(event),
                    len(sale_ids),
                    *ended_events,
                ],
            )
            status = int(raw[0])
            if status == -2:
                continue
            if status == -1:
                raise NotFound(f"room {room.id} does not exist")
            if status == 0:
                raise Conflict(f"the room is {as_text(raw[1])}; it cannot become ended")
            stopped = [as_text(i) for i in raw[2:]]
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.zrem(keys.rooms_index(str(room.state)), room.id)
                pipe.zadd(keys.rooms_index(str(RoomState.ENDED)), {room.id: now})
                if stopped:  # due now: the ticker reaps their holds and frees their products
                    pipe.zadd(keys.active_sales(), {f"{room.id} {i}": now for i in stopped})
                await pipe.execute()
            return int(raw[1]), stopped
        raise Unavailable("sales kept starting while the show ended; try again", retry_after=1)

    @guarded
    async def set_room_field(self, room_id: str, name: str, value: str) -> None:
        await self.client.hset(keys.room(room_id), name, value)

    @guarded
    async def pin(self, room_id: str, event: ProductPinned | ProductUnpinned) -> int:
        """Pin (``product.pinned``) or unpin (``product.unpinned``); the event's seq."""
        card = orjson.dumps(event["product"]).decode() if event["type"] == "product.pinned" else ""
        status, value = await self.scripts.room_pin(
            keys=[
                keys.room(room_id),
                keys.room_pins(room_id),
                keys.room_seq(room_id),
                keys.room_events(room_id),
            ],
            args=[
                card,
                event["at"],
                keys.room_channel(room_id),
                self.stream_max_len,
                pack_event(event),
            ],
        )
        if int(status) == 1:
            return int(value)
        reason = as_text(value)
        if reason == "not_found":
            raise NotFound(f"room {room_id} does not exist")
        if reason == "room_ended":
            raise RoomNotLive("the room has ended")
        raise Conflict("nothing is pinned")

    @guarded
    async def report_viewers(
        self, room_id: str, process_id: str, count: int, now: int, ttl_ms: int
    ) -> int:
        """Record this process's viewer count for the room; the room's total over processes."""
        total = await self.scripts.room_viewers(
            keys=[keys.room_viewers(room_id)], args=[process_id, count, now, ttl_ms]
        )
        return int(total)


async def pin_history(client: Redis, room_id: str) -> list[dict[str, Any]]:
    """Every pin and unpin in order: ``{"at": ms, "product": card | None}``."""
    entries = await client.xrange(keys.room_pins(room_id)) or []
    history = []
    for _id, fields in entries:
        if not fields:
            continue
        card = as_text(fields.get(b"product", b""))
        history.append(
            {"at": int(as_text(fields[b"at"])), "product": orjson.loads(card) if card else None}
        )
    return history
