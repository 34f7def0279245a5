"""The sets the tickers visit: a process whose ticker finds nothing due asks the store again
only when something could be, and never misses what is due."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from livecommerce.store.embedded import EmbeddedValkey
from livecommerce.store.schedule import DOZE_MS, Schedule, Schedules

INDEX = "lc:lots:due"
NOW = 1_700_000_000_000


@pytest.fixture
async def client(private_valkey: EmbeddedValkey) -> AsyncIterator[aioredis.Redis]:
    """A store of the test's own, so the reads counted are this test's."""
    client = aioredis.Redis.from_url(private_valkey.url)
    yield client
    await client.aclose()


async def reads(client: aioredis.Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_zrange", {}).get("calls", 0))


async def test_a_lot_another_process_scheduled_closes_on_time_with_a_read_a_second(
    client: aioredis.Redis,
) -> None:
    here, there = Schedule(client, INDEX), Schedule(client, INDEX)
    await there.put("r1", "lot1", NOW + 5_000)

    before = await reads(client)
    due_at = None
    for tick in range(0, 6_000, 100):  # a ticker ten times a second
        if await here.due(NOW + tick):
            due_at = tick
            break
    assert due_at == 5_000  # on time, to the tick
    # Once a second while the lot was far off, then at its deadline.
    assert await reads(client) - before == 5_000 // DOZE_MS + 1


async def test_what_a_process_schedules_itself_wakes_its_own_ticker_at_once(
    client: aioredis.Redis,
) -> None:
    here = Schedule(client, INDEX)
    assert await here.due(NOW) == []  # nothing: dozes for a second
    await here.put("r1", "poll1", NOW + 300)
    assert await here.due(NOW + 200) == []
    assert await here.due(NOW + 300) == [("r1", "poll1", NOW + 300)]
    await here.done("r1", "poll1")
    assert await here.due(NOW + 500) == []

    here.expect(NOW + 700)  # a ZADD made beside a script, told to the schedule
    await client.zadd(INDEX, {"r2 g1": NOW + 700})
    assert await here.due(NOW + 700) == [("r2", "g1", NOW + 700)]


async def test_a_due_thing_not_yet_done_is_asked_for_again_next_round(
    client: aioredis.Redis,
) -> None:
    """The step that acts on it failed (the store blinked): the next round tries again."""
    schedules = Schedules(client)
    await client.zadd(INDEX, {"r1 order1": NOW})
    assert await schedules[INDEX].due(NOW) == [("r1", "order1", NOW)]
    before = await reads(client)
    assert await schedules[INDEX].due(NOW + 100) == [("r1", "order1", NOW)]
    assert await reads(client) - before == 1
    assert schedules[INDEX] is schedules[INDEX]  # what one round learns, the next knows
