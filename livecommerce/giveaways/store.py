"""The giveaway store: each step one Lua script under the room's hash tag.

An entry is one ``HSETNX`` (one per person, however many sockets and processes it comes
from); closing the entries, and publishing the draw with the winner's order, are one step
each. Redis has no SHA-256 in its scripts, so the draw itself runs in Python between the two
(``rules.draw``): it is a function of the seed and the closed list of entrants alone, so any
process that finishes the job draws the same winner, and exactly one publishes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis

from livecommerce.errors import NotFound
from livecommerce.giveaways.rules import Giveaway, GiveawayState, giveaway_from_hash
from livecommerce.store import keys
from livecommerce.store.connection import as_strings, as_text, guarded
from livecommerce.store.schedule import Schedules
from livecommerce.store.scripts import register


@dataclass(frozen=True, slots=True)
class Closed:
    """What ``close`` did. ``status`` 2: entries closed (``seed`` and ``entrants``);
    1: cancelled now (``seq``); 0: refused with ``reason`` (``ends_at`` when not due)."""

    status: int
    reason: str = ""
    seq: int = 0
    seed: bytes = b""
    entrants: list[str] = field(default_factory=list)
    ends_at: int = 0


@dataclass(frozen=True, slots=True)
class Drawn:
    """What ``publish_draw`` did: ``ended`` by this call (then ``seq`` and the order)."""

    ended: bool
    reason: str = ""
    seq: int = 0
    order: dict[str, Any] | None = None
    order_id: str = ""


class GiveawayStore:
    def __init__(self, client: Redis, *, stream_max_len: int) -> None:
        self.client = client
        self.schedules = Schedules(client)
        self.stream_max_len = stream_max_len
        self._rooms: dict[str, str] = {}
        self._start = register(client, "giveaway_start")
        self._enter = register(client, "giveaway_enter")
        self._close = register(client, "giveaway_close")
        self._draw = register(client, "giveaway_draw")
        self._claim = register(client, "giveaway_claim")
        self._lapse = register(client, "giveaway_lapse")

    @guarded
    async def room_of(self, giveaway_id: str) -> str:
        """The room a giveaway runs in; immutable, so cached for the life of the process."""
        room_id = self._rooms.get(giveaway_id)
        if room_id is None:
            raw = await self.client.hget(keys.giveaway_rooms(), giveaway_id)
            if raw is None:
                raise NotFound(f"giveaway {giveaway_id[:80]} does not exist")
            room_id = self._rooms[giveaway_id] = as_text(raw)
        return room_id

    @guarded
    async def giveaway(self, room_id: str, giveaway_id: str) -> Giveaway:
        raw = await self.client.hgetall(keys.giveaway(room_id, giveaway_id)[0])
        if not raw:
            raise NotFound(f"giveaway {giveaway_id[:80]} does not exist")
        return giveaway_from_hash(as_strings(raw))

    @guarded
    async def revealed(self, room_id: str, giveaway: Giveaway) -> tuple[str, list[str]] | None:
        """The seed (hex) and the entrant ids of an ended giveaway; None before it ends, so
        no reader can show the seed early."""
        if giveaway.state is not GiveawayState.ENDED:
            return None
        _, entries_key, seed_key = keys.giveaway(room_id, giveaway.id)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.get(seed_key)
            pipe.hkeys(entries_key)
            seed, ids = await pipe.execute()
        return as_text(seed or b""), [as_text(i) for i in ids]

    @guarded
    async def room_giveaways(self, room_id: str, limit: int = 50) -> list[Giveaway]:
        """The room's giveaways, oldest first."""
        ids = await self.client.zrange(keys.room_giveaways(room_id), -limit, -1)
        return await self._many(room_id, [as_text(i) for i in ids])

    @guarded
    async def current(self, room_id: str) -> Giveaway | None:
        """The giveaway running in the room, or else the one that ended last."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.get(keys.room_live_giveaway(room_id))
            pipe.get(keys.room_last_giveaway(room_id))
            live, last = await pipe.execute()
        chosen = live if live is not None else last
        if chosen is None:
            return None
        found = await self._many(room_id, [as_text(chosen)])
        return found[0] if found else None

    async def _many(self, room_id: str, ids: Sequence[str]) -> list[Giveaway]:
        async with self.client.pipeline(transaction=False) as pipe:
            for giveaway_id in ids:
                pipe.hgetall(keys.giveaway(room_id, giveaway_id)[0])
            rows = await pipe.execute()
        return [giveaway_from_hash(as_strings(row)) for row in rows if row]

    @guarded
    async def entered(self, room_id: str, giveaway_id: str, user_id: str) -> bool:
        return bool(await self.client.hexists(keys.giveaway(room_id, giveaway_id)[1], user_id))

    @guarded
    async def entries(self, room_id: str, giveaway_id: str) -> dict[str, str]:
        """user id -> how they qualified (rules.Method), for the host's results."""
        raw = await self.client.hgetall(keys.giveaway(room_id, giveaway_id)[1])
        return {as_text(k): as_text(v).partition("|")[0] for k, v in raw.items()}

    @guarded
    async def start(self, giveaway: Giveaway, seed_hex: str) -> tuple[bool, str]:
        """(True, seq) started; (False, reason). The giveaway joins the closers' set first,
        so that a process that dies right after the start leaves one that still ends."""
        room_id = giveaway.room_id
        await self.client.hset(keys.giveaway_rooms(), giveaway.id, room_id)
        self._rooms[giveaway.id] = room_id
        member = f"{room_id} {giveaway.id}"
        self.schedules[keys.active_giveaways()].expect(giveaway.ends_at)
        await self.client.zadd(keys.active_giveaways(), {member: giveaway.ends_at})
        flat: list[str] = []
        for name, value in giveaway.to_hash().items():
            flat += [name, value]
        raw = await self._start(
            keys=[
                *keys.giveaway(room_id, giveaway.id),
                keys.room(room_id),
                keys.room_live_giveaway(room_id),
                keys.room_giveaways(room_id),
                keys.room_seq(room_id),
                keys.room_events(room_id),
            ],
            args=[
                giveaway.starts_at,
                keys.room_channel(room_id),
                self.stream_max_len,
                seed_hex,
                *flat,
            ],
        )
        if int(raw[0]) == 0:
            await self.client.zrem(keys.active_giveaways(), member)
            return False, as_text(raw[1])
        return True, as_text(raw[1])

    @guarded
    async def enter(
        self, room_id: str, giveaway_id: str, user_id: str, method: str, name: str, now: int
    ) -> tuple[int, int | str]:
        """(1, count) entered now; (2, count) entered before; (0, reason)."""
        gkey, entries_key, _ = keys.giveaway(room_id, giveaway_id)
        raw = await self._enter(
            keys=[gkey, entries_key, keys.room_bans(room_id)],
            args=[user_id, method, name, now],
        )
        status = int(raw[0])
        return (status, int(raw[1])) if status else (0, as_text(raw[1]))

    def _end_keys(self, room_id: str, giveaway_id: str) -> list[str]:
        return [
            *keys.giveaway(room_id, giveaway_id),
            keys.room_live_giveaway(room_id),
            keys.room_seq(room_id),
            keys.room_events(room_id),
            keys.room_last_giveaway(room_id),
        ]

    @guarded
    async def close(self, room_id: str, giveaway_id: str, reason: str, now: int) -> Closed:
        raw = await self._close(
            keys=self._end_keys(room_id, giveaway_id),
            args=[reason, now, keys.room_channel(room_id), self.stream_max_len],
        )
        status = int(raw[0])
        if status == 2:
            seed = bytes.fromhex(as_text(raw[1]))
            return Closed(2, seed=seed, entrants=[as_text(i) for i in raw[2:]])
        if status == 1:
            return Closed(1, seq=int(raw[1]))
        return Closed(0, as_text(raw[1]), ends_at=int(raw[2]) if len(raw) > 2 else 0)

    @guarded
    async def publish_draw(
        self, room_id: str, giveaway_id: str, winner: str, now: int, order_id: str, claim_ms: int
    ) -> Drawn:
        raw = await self._draw(
            keys=[
                *self._end_keys(room_id, giveaway_id),
                keys.order(room_id, order_id),
                keys.room_orders(room_id),
            ],
            args=[
                winner,
                now,
                keys.room_channel(room_id),
                self.stream_max_len,
                order_id,
                claim_ms,
            ],
        )
        if int(raw[0]) == 1:
            order = orjson.loads(raw[2]) if raw[2] else None
            return Drawn(True, seq=int(raw[1]), order=order, order_id=order["id"] if order else "")
        reason = as_text(raw[1])
        return Drawn(False, reason, order_id=as_text(raw[2]) if len(raw) > 2 else "")

    @guarded
    async def claim(
        self, room_id: str, order_id: str, winner: str, now: int, shipping: Any
    ) -> tuple[int, str, dict[str, Any] | None]:
        """(status, reason, order): 1 claimed now, 2 claimed before, 0 refused."""
        raw = await self._claim(
            keys=[keys.order(room_id, order_id)], args=[now, winner, orjson.dumps(shipping)]
        )
        if int(raw[0]) == 0:
            return 0, as_text(raw[1]), None
        return int(raw[0]), "", orjson.loads(raw[1])

    @guarded
    async def lapse(self, room_id: str, order_id: str, now: int) -> tuple[bool, str, Any]:
        """(True, '', order) lapsed now; (False, why, claim_by or None) otherwise."""
        raw = await self._lapse(keys=[keys.order(room_id, order_id)], args=[now])
        if int(raw[0]) == 1:
            return True, "", orjson.loads(raw[1])
        return False, as_text(raw[1]), int(raw[2]) if len(raw) > 2 else None

    # The process-wide sets the tickers visit -------------------------------------------

    async def due(self, index: str, now: int, limit: int = 100) -> list[tuple[str, str, int]]:
        return await self.schedules[index].due(now, limit)

    async def reschedule(self, index: str, room_id: str, thing_id: str, at: int) -> None:
        await self.schedules[index].put(room_id, thing_id, at)

    async def done(self, index: str, room_id: str, thing_id: str) -> None:
        await self.schedules[index].done(room_id, thing_id)

    # What the entry rules need to know of a person (other slots, read before the entry) -

    @guarded
    async def follows(self, host_id: str, user_id: str) -> bool:
        return bool(await self.client.sismember(keys.followers(host_id), user_id))

    @guarded
    async def bought_in(self, room_id: str, user_id: str, scan: int = 200) -> bool:
        """Whether the person has a paid order in this show (a prize is no purchase)."""
        ids = [
            as_text(i) for i in await self.client.zrevrange(keys.buyer_orders(user_id), 0, scan - 1)
        ]
        if not ids:
            return False
        async with self.client.pipeline(transaction=False) as pipe:
            for order_id in ids:
                pipe.get(keys.order(room_id, order_id))
            rows = await pipe.execute()
        for raw in rows:
            if raw is None:
                continue
            order = orjson.loads(raw)
            if order.get("state") == "paid" and order.get("kind") != "giveaway":
                return True
        return False
