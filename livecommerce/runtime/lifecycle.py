"""Stopping background tasks for sure.

``task.cancel()`` asks once. A library that turns the ``CancelledError`` into something else
(a timeout racing the cancellation inside redis-py's pool, say) lets a ticker that catches
errors and loops go on: the task stays "cancelling" and ``await task`` never returns. It was
seen as a server that hung on stop, one test run in three. So the request is repeated until
the task has ended.
"""

from __future__ import annotations

import asyncio
from typing import Any

ASK_AGAIN_S = 0.5


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` until it has ended; its result or error is dropped."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=ASK_AGAIN_S)
    if not task.cancelled():
        task.exception()  # retrieved, so it is not reported as never retrieved
