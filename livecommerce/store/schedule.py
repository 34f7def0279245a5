"""The process-wide sets that tickers visit: ``<room id> <thing id>`` scored by when it is due.

Lots to close, prizes and orders that lapse, polls to end, group buys to settle: each is a
sorted set that every process reads, and the scripts that act on one thing decide which
process wins it. A member holds its room so the ticker can name the thing's keys (which
carry the room's hash tag) without another read.

A ticker asks several times a second, and most of the time nothing is due: every process
asking every set ten times a second is hundreds of store calls a second for nothing in a
fleet. So each read also learns when the soonest thing not yet due is, and until then (or
``DOZE_MS`` at most) ``due`` answers from memory. What this process schedules itself wakes
it at once (``put``, ``expect``); what another process schedules is seen within ``DOZE_MS``,
and that process watches its own deadline meanwhile.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from livecommerce.store.connection import as_text, guarded

# The longest a set is not read while its soonest member is not due.
DOZE_MS = 1000


class Schedule:
    """One such set, named by ``index`` (a key from ``keys``), as this process sees it."""

    def __init__(self, client: Redis, index: str, *, doze_ms: int = DOZE_MS) -> None:
        self.client = client
        self.index = index
        self.doze_ms = doze_ms
        self.quiet_until: float = float("-inf")  # ms: nothing due before, as far as we know

    def expect(self, at: int) -> None:
        """Something was scheduled at ``at`` by other means (a ZADD beside a script)."""
        self.quiet_until = min(self.quiet_until, at)

    @staticmethod
    def member(room_id: str, thing_id: str) -> str:
        return f"{room_id} {thing_id}"

    @guarded
    async def due(self, now: int, limit: int = 100) -> list[tuple[str, str, int]]:
        """Members due by ``now`` as (room, id, when), soonest first."""
        if now < self.quiet_until:
            return []
        # The soonest ``limit`` members, due or not: the first one not due says how long
        # nothing will be, in the same round trip.
        rows: list[Any] = await self.client.zrange(self.index, 0, limit - 1, withscores=True)
        found = []
        later: float | None = None
        for member, score in rows:
            if score > now:
                later = score
                break
            room_id, _, thing_id = as_text(member).partition(" ")
            found.append((room_id, thing_id, int(score)))
        if found:
            self.quiet_until = now  # read again next round: these may fail, more may wait
        else:
            self.quiet_until = min(later if later is not None else float("inf"), now + self.doze_ms)
        return found

    @guarded
    async def put(self, room_id: str, thing_id: str, at: int, *, nx: bool = False) -> bool:
        """Due at ``at``; whether the member was added (it was not in the set)."""
        self.expect(at)
        return bool(await self.client.zadd(self.index, {self.member(room_id, thing_id): at}, nx=nx))

    @guarded
    async def done(self, room_id: str, thing_id: str) -> None:
        await self.client.zrem(self.index, self.member(room_id, thing_id))


class Schedules:
    """A store's sets by index, each kept for the life of the store, so what one call
    learns of a set the next one knows."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self._sets: dict[str, Schedule] = {}

    def __getitem__(self, index: str) -> Schedule:
        found = self._sets.get(index)
        if found is None:
            found = self._sets[index] = Schedule(self.client, index)
        return found
