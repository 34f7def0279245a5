"""Periodic work: a tick runs again and again until stopped, and a bad round does not end it."""

from __future__ import annotations

import asyncio

import pytest

from livecommerce.errors import Unavailable
from livecommerce.runtime import lifecycle
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


async def test_a_round_that_swallows_the_cancellation_still_ends_the_ticker_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """redis-py's pool can turn a cancellation into a timeout it handles: the round returns
    as if nothing happened. The ticker must end after that round, not when asked again."""
    monkeypatch.setattr(lifecycle, "ASK_AGAIN_S", 3600.0)
    in_round = asyncio.Event()
    swallowed: list[bool] = []

    async def swallowing() -> None:
        in_round.set()
        if swallowed:  # once is the library's slip; a second round would wait for the ask
            await asyncio.sleep(3600)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            swallowed.append(True)
            asyncio.current_task().uncancel()  # type: ignore[union-attr]

    ticker = Ticker("swallowing", 0.001, swallowing)
    ticker.start()
    async with asyncio.timeout(timeout(5)):
        await in_round.wait()
        await ticker.stop()
    assert swallowed == [True]
