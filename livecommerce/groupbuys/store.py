"""The group buys' store: each step one Lua script under the room's hash tag.

A join holds its unit in the same step that checks the group is open and the person has
not joined; the authorisation that fills the group announces ``groupbuy.filled`` in the
same step; a capture writes its order in the same step that counts it. So however many
processes take joins and settle at once, the units add up and no join is paid twice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from livecommerce.errors import NotFound
from livecommerce.groupbuys.rules import GroupBuy, Join, group_from_hash, join_from_json
from livecommerce.store import keys
from livecommerce.store.connection import as_strings, as_text, guarded
from livecommerce.store.schedule import Schedules
from livecommerce.store.scripts import register


@dataclass(frozen=True, slots=True)
class Recorded:
    """What a step did to a join: ``status`` 1 now, 2 before, 0 refused with ``reason``."""

    status: int
    join: Join | None = None
    reason: str = ""
    filled: bool = False
    seq: int = 0


@dataclass(frozen=True, slots=True)
class Closed:
    closed: bool
    reason: str
    seq: int = 0
    state: str = ""
    detail: str = ""


class GroupBuyStore:
    def __init__(self, client: Redis, *, stream_max_len: int) -> None:
        self.client = client
        self.schedules = Schedules(client)
        self.stream_max_len = stream_max_len
        self._rooms: dict[str, str] = {}
        self._start = register(client, "groupbuy_start")
        self._join = register(client, "groupbuy_join")
        self._authorised = register(client, "groupbuy_authorised")
        self._settle = register(client, "groupbuy_settle")
        self._end = register(client, "groupbuy_end")

    @guarded
    async def room_of(self, group_id: str) -> str:
        """The room a group buy runs in; immutable, so cached for the life of the process."""
        room_id = self._rooms.get(group_id)
        if room_id is None:
            raw = await self.client.hget(keys.groupbuy_rooms(), group_id)
            if raw is None:
                raise NotFound(f"group buy {group_id[:80]} does not exist")
            room_id = self._rooms[group_id] = as_text(raw)
        return room_id

    @guarded
    async def group(self, room_id: str, group_id: str) -> GroupBuy:
        raw = await self.client.hgetall(keys.groupbuy_hash(room_id, group_id))
        if not raw:
            raise NotFound(f"group buy {group_id[:80]} does not exist")
        return group_from_hash(as_strings(raw))

    @guarded
    async def room_groups(self, room_id: str, limit: int = 20) -> list[GroupBuy]:
        """The room's group buys, newest first."""
        ids = await self.client.zrevrange(keys.room_groupbuys(room_id), 0, limit - 1)
        async with self.client.pipeline(transaction=False) as pipe:
            for group_id in ids:
                pipe.hgetall(keys.groupbuy_hash(room_id, as_text(group_id)))
            rows = await pipe.execute()
        return [group_from_hash(as_strings(row)) for row in rows if row]

    @guarded
    async def join_of(self, room_id: str, group_id: str, user_id: str) -> Join | None:
        """The latest join a person made (their live one, if they have one)."""
        group_keys = keys.groupbuy(room_id, group_id)
        join_id = await self.client.hget(group_keys[2], f"{user_id}:last")
        if join_id is None:
            return None
        raw = await self.client.hget(group_keys[1], as_text(join_id))
        return None if raw is None else join_from_json(raw)

    @guarded
    async def joins(self, room_id: str, group_id: str) -> list[Join]:
        raw = await self.client.hgetall(keys.groupbuy(room_id, group_id)[1])
        return sorted((join_from_json(v) for v in raw.values()), key=lambda j: j.created_at)

    @guarded
    async def todo(self, room_id: str, group_id: str) -> list[Join]:
        """Joins not yet settled and told, oldest first."""
        group_keys = keys.groupbuy(room_id, group_id)
        ids = await self.client.smembers(group_keys[4])
        if not ids:
            return []
        rows = await self.client.hmget(group_keys[1], sorted(as_text(i) for i in ids))
        found = [join_from_json(r) for r in rows if r is not None]
        return sorted(found, key=lambda j: j.created_at)

    def _room_keys(self, room_id: str) -> list[str]:
        return [keys.room_seq(room_id), keys.room_events(room_id)]

    @guarded
    async def start(self, group: GroupBuy) -> int:
        """Write the group and announce it: the seq of its ``groupbuy.started``, or -1 for no
        room, -2 for a room not live."""
        room_id = group.room_id
        await self.client.hset(keys.groupbuy_rooms(), group.id, room_id)
        self._rooms[group.id] = room_id
        flat: list[str] = []
        for name, value in group.to_hash().items():
            flat += [name, value]
        status, value = await self._start(
            keys=[
                *keys.groupbuy(room_id, group.id),
                keys.room(room_id),
                keys.room_groupbuys(room_id),
                *self._room_keys(room_id),
            ],
            args=[group.starts_at, keys.room_channel(room_id), self.stream_max_len, *flat],
        )
        if int(status) == 0:
            return {"not_found": -1, "room_not_live": -2}.get(as_text(value), -3)
        return int(value)

    @guarded
    async def join(
        self, room_id: str, group_id: str, user_id: str, key: str, join: dict[str, Any], now: int
    ) -> Recorded:
        raw = await self._join(
            keys=keys.groupbuy(room_id, group_id),
            args=[user_id, key, join["fp"], now, orjson.dumps(join)],
        )
        status = int(raw[0])
        if status == 0:
            return Recorded(0, reason=as_text(raw[1]))
        return Recorded(status, join_from_json(raw[1]))

    @guarded
    async def authorised(
        self, room_id: str, group_id: str, join_id: str, outcome: str, detail: str, now: int
    ) -> Recorded:
        raw = await self._authorised(
            keys=[*keys.groupbuy(room_id, group_id), *self._room_keys(room_id)],
            args=[
                join_id,
                outcome,
                detail,
                now,
                keys.room_channel(room_id),
                self.stream_max_len,
            ],
        )
        status = int(raw[0])
        if status == 0:
            return Recorded(0, reason=as_text(raw[1]))
        return Recorded(status, join_from_json(raw[1]), filled=int(raw[2]) == 1, seq=int(raw[3]))

    @guarded
    async def settle(
        self,
        room_id: str,
        group_id: str,
        join_id: str,
        outcome: str,
        now: int,
        order_id: str = "",
        order: bytes = b"",
    ) -> Recorded:
        raw = await self._settle(
            keys=[
                *keys.groupbuy(room_id, group_id),
                keys.order(room_id, order_id or "none"),
                keys.room_orders(room_id),
            ],
            args=[join_id, outcome, now, order_id, order],
        )
        status = int(raw[0])
        if status == 0:
            return Recorded(0, reason=as_text(raw[1]))
        return Recorded(status, join_from_json(raw[1]))

    @guarded
    async def end(self, room_id: str, group_id: str, reason: str, now: int) -> Closed:
        raw = await self._end(
            keys=[*keys.groupbuy(room_id, group_id), *self._room_keys(room_id)],
            args=[reason, now, keys.room_channel(room_id), self.stream_max_len],
        )
        if int(raw[0]) == 1:
            return Closed(True, as_text(raw[3]), seq=int(raw[1]), state=as_text(raw[2]))
        return Closed(False, as_text(raw[1]), detail=as_text(raw[2]))

    @guarded
    async def mark_returned(self, room_id: str, group_id: str) -> None:
        await self.client.hset(keys.groupbuy_hash(room_id, group_id), "returned", 1)

    # Who settles, and when ------------------------------------------------------------

    @guarded
    async def lease(self, room_id: str, group_id: str, ms: int) -> str | None:
        """A token when this caller may settle the group for ``ms``; None while another does."""
        token = secrets.token_hex(8)
        taken = await self.client.set(keys.groupbuy_lease(room_id, group_id), token, nx=True, px=ms)
        return token if taken else None

    @guarded
    async def unlease(self, room_id: str, group_id: str, token: str) -> None:
        key = keys.groupbuy_lease(room_id, group_id)
        if as_text(await self.client.get(key) or b"") == token:
            await self.client.delete(key)

    async def due(self, now: int, limit: int = 100) -> list[tuple[str, str]]:
        rows = await self.schedules[keys.groupbuys_due()].due(now, limit)
        return [(room_id, group_id) for room_id, group_id, _ in rows]

    async def look_at(self, room_id: str, group_id: str, at: int) -> None:
        await self.schedules[keys.groupbuys_due()].put(room_id, group_id, at)

    async def done(self, room_id: str, group_id: str) -> None:
        await self.schedules[keys.groupbuys_due()].done(room_id, group_id)
