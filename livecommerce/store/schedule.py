"""The process-wide sets that tickers visit: ``<room id> <thing id>`` scored by when it is due.

Lots to close, prizes and orders that lapse, polls to end, group buys to settle: each is a
sorted set that every process reads, and the scripts that act on one thing decide which
process wins it. A member holds its room so the ticker can name the thing's keys (which
carry the room's hash tag) without another read.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from livecommerce.store.connection import as_text, guarded


class Schedule:
    """One such set, named by ``index`` (a key from ``keys``)."""

    def __init__(self, client: Redis, index: str) -> None:
        self.client = client
        self.index = index

    @staticmethod
    def member(room_id: str, thing_id: str) -> str:
        return f"{room_id} {thing_id}"

    @guarded
    async def due(self, now: int, limit: int = 100) -> list[tuple[str, str, int]]:
        """Members due by ``now`` as (room, id, when), soonest first."""
        rows: list[Any] = await self.client.zrangebyscore(
            self.index, "-inf", now, start=0, num=limit, withscores=True
        )
        found = []
        for member, score in rows:
            room_id, _, thing_id = as_text(member).partition(" ")
            found.append((room_id, thing_id, int(score)))
        return found

    @guarded
    async def put(self, room_id: str, thing_id: str, at: int, *, nx: bool = False) -> bool:
        """Due at ``at``; whether the member was added (it was not in the set)."""
        return bool(await self.client.zadd(self.index, {self.member(room_id, thing_id): at}, nx=nx))

    @guarded
    async def done(self, room_id: str, thing_id: str) -> None:
        await self.client.zrem(self.index, self.member(room_id, thing_id))
