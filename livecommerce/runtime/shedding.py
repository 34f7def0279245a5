"""Load shedding at the edge: the loop's lag measured, and who is turned away for it.

A small task samples how late a timer fires on this process's loop and feeds the sample to
``Pressure`` (pressure.py), which says the level. The rest of the process asks here:

- a new join or viewing session while shedding is refused with ``overloaded`` and a retry
  hint, before it costs the store anything (``admit``); sockets already admitted are never
  dropped for pressure, since dropping them would only bring them back as joins;
- ambient updates are paced ``pace()`` times slower (the latest value still goes out);
- chat passes a gate (``admit_chat``) that buyers' reserves, checkouts and bids never meet.

Why a gate for chat, rather than a queue in front of the buyers: there is one event loop and
no shared inbound queue to reorder (each socket's frames are read by its own task), so the
only way to put reserves first is to spend less of the loop on everything else. A chat line
costs a script call and then a frame to every member of the room; refusing it at the edge,
before either, hands that loop time and store round trip to the reserve waiting behind it.
A busy process takes ``chat_per_s`` lines a second across all rooms; a shedding one none.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from livecommerce.errors import Overloaded
from livecommerce.runtime import metrics
from livecommerce.runtime.lifecycle import stop_task
from livecommerce.runtime.pressure import Level, Pressure

log = logging.getLogger("livecommerce.shedding")

SAMPLE_EVERY_S = 0.1
# Lag this soon after start (or after ``warm_up``) is start-up work, not load.
WARM_UP_S = 3.0


class Shedding:
    def __init__(
        self,
        pressure: Pressure,
        *,
        enabled: bool = True,
        chat_per_s: float = 50.0,
        sample_every_s: float = SAMPLE_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pressure = pressure
        self.enabled = enabled
        self.chat_per_s = chat_per_s
        self.sample_every_s = sample_every_s
        self.clock = clock
        # Joins accepted and not yet welcomed or refused: the gateway says how many.
        self.pending: Callable[[], int] = lambda: 0
        self._chat_tokens = chat_per_s
        self._chat_at = clock()
        self._calm_until = float("-inf")
        self._task: asyncio.Task[None] | None = None

    @property
    def level(self) -> Level:
        return self.pressure.level if self.enabled else Level.NORMAL

    def pace(self) -> float:
        """How many times longer ambient updates wait than when all is calm."""
        return self.pressure.pace if self.enabled else 1.0

    def warm_up(self, seconds: float = WARM_UP_S) -> None:
        """Start-up work (scripts loaded, accounts upgraded, a demo seeded, first connections
        made) runs the loop late for a moment with nobody to protect yet; shedding for it
        would turn the first visitors away. Samples until then move the gauge, not the level.
        """
        self._calm_until = self.clock() + seconds

    def observe(self, lag_s: float) -> Level:
        """One lag sample (the monitor's, or a test's): the level after it."""
        if self.clock() < self._calm_until:
            metrics.LOOP_LAG.set(max(lag_s, 0.0))
            return self.level
        before = self.pressure.level
        level = self.pressure.observe(self.clock(), lag_s, self.pending())
        metrics.LOOP_LAG.set(self.pressure.lag_s)
        if self.enabled:
            metrics.PRESSURE_LEVEL.set(int(level))
            if level != before:
                log.warning(
                    "pressure %s", level.name.lower(), extra={"lag_ms": self.pressure.lag_s * 1000}
                )
        return self.level

    # Asked by the gateway and the HTTP routes ------------------------------------------

    def admit(self, what: str) -> None:
        """A new join (``what``: join, watch, room) goes ahead, or is refused with a hint.

        The joins under way are checked at once, not at the next sample: a spike brings
        hundreds of handshakes in the tenth of a second between two."""
        if not self.enabled:
            return
        if self.pressure.level is Level.SHEDDING or self.pressure.too_many_joins(self.pending()):
            metrics.SHED.labels(what).inc()
            raise Overloaded(
                "this server is busy; try again shortly", retry_after=self.pressure.retry_after()
            )

    def admit_chat(self) -> None:
        level = self.level
        if level is Level.NORMAL:
            return
        if level is Level.BUSY:
            now = self.clock()
            rate = self.chat_per_s
            self._chat_tokens = min(rate, self._chat_tokens + (now - self._chat_at) * rate)
            self._chat_at = now
            if self._chat_tokens >= 1:
                self._chat_tokens -= 1
                return
        metrics.SHED.labels("chat").inc()
        raise Overloaded(
            "the show is very busy; chat is paused for a moment",
            retry_after=self.pressure.retry_after(),
        )

    # The monitor -----------------------------------------------------------------------

    def start(self, warm_up_s: float = WARM_UP_S) -> None:
        if self._task is None:
            self.warm_up(warm_up_s)
            self._task = asyncio.create_task(self._monitor(), name="loop lag")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)

    async def _monitor(self) -> None:
        loop = asyncio.get_running_loop()
        every = self.sample_every_s
        while True:
            started = loop.time()
            await asyncio.sleep(every)
            self.observe(loop.time() - started - every)
