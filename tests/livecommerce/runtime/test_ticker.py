"""Periodic work: a tick runs again and again until stopped, and a bad round does not end it."""

from __future__ import annotations

import asyncio

from livecommerce.errors import Unavailable
from livecommerce.runtime.ticker import Ticker
from tests.conftest import timeout


async def test_a_ticker_ticks_until_it_is_stopped() -> None:
    rounds = 0
    third = asyncio.Event()

    async def tick() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 3:
            third.set()

    ticker = Ticker("counting", 0.001, tick)
    ticker.start()
    async with asyncio.timeout(timeout(5)):
        await third.wait()
    await ticker.stop()
    assert rounds == 3


async def test_an_unreachable_store_and_a_bug_each_end_only_their_round() -> None:
    outcomes: list[BaseException | None] = [
        Unavailable("the store is down", retry_after=1),
        RuntimeError("a bug"),
        None,
    ]
    survived = asyncio.Event()

    async def tick() -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        survived.set()

    ticker = Ticker("failing", 0.001, tick)
    ticker.start()
    async with asyncio.timeout(timeout(5)):
        await survived.wait()
    await ticker.stop()
    assert outcomes == []


async def test_a_ticker_never_started_or_stopped_twice_stops_quietly() -> None:
    async def tick() -> None:
        raise AssertionError("never runs")

    idle = Ticker("idle", 60, tick)
    await idle.stop()
    idle.start()
    await idle.stop()
    await idle.stop()
