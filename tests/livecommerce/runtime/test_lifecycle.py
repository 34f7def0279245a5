"""A background task that swallows its first cancellation still stops."""

from __future__ import annotations

import asyncio

from livecommerce.runtime.lifecycle import stop_task
from tests.conftest import timeout


async def test_a_ticker_that_swallows_a_cancellation_is_stopped_anyway() -> None:
    swallowed = asyncio.Event()

    async def ticker() -> None:
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if swallowed.is_set():
                    raise
                swallowed.set()  # as a library that turns it into a timeout would

    task = asyncio.ensure_future(ticker())
    await asyncio.sleep(0)
    async with asyncio.timeout(timeout(5)):
        await stop_task(task)
    assert swallowed.is_set()
    assert task.cancelled()


async def test_a_task_that_already_failed_is_stopped_quietly() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    task = asyncio.ensure_future(fails())
    await asyncio.wait([task])
    await stop_task(task)
    await stop_task(None)
