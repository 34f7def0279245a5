"""Periodic work of a process: one pattern for every tick.

Each tick waits its interval after the previous round has finished, so rounds never overlap
and a slow store stretches the interval rather than piling rounds up. A round that fails
does not end the ticker: ``LiveCommerceError`` (the store unreachable, mostly) is what a
round is expected to meet now and then, and the next round tries again; anything else is a
bug, logged with its traceback, and the ticker goes on too, so one bad round cannot silence
viewer counts or stream claims for the rest of the process's life.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from livecommerce.errors import LiveCommerceError
from livecommerce.runtime.lifecycle import stop_task

log = logging.getLogger("livecommerce.ticker")


class Ticker:
    """Runs ``tick`` every ``every_s`` seconds, from ``start`` until ``stop``."""

    def __init__(
        self,
        name: str,
        every_s: float,
        tick: Callable[[], Awaitable[object]],
        *,
        unavailable: int = logging.WARNING,
    ) -> None:
        """``unavailable``: the log level of a round the store failed; a tick that runs
        several times a second and whose next round repairs all says it quietly."""
        self.name = name
        self.every_s = every_s
        self.tick = tick
        self.unavailable = unavailable
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        self._stopping = True
        await stop_task(task)

    async def _run(self) -> None:
        # A cancellation that a library swallows mid-round (redis-py's pool can) would leave
        # the loop running until asked again; the flag ends it after that round instead.
        while not self._stopping:
            await asyncio.sleep(self.every_s)
            try:
                await self.tick()
            except LiveCommerceError as exc:
                log.log(self.unavailable, "%s tick: %s", self.name, exc.code)
            except Exception:
                log.exception("%s tick failed", self.name)
