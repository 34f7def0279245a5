"""Garbage collection paced for a real-time server: never a long pause in the middle of a rush.

CPython's automatic full collection walks every tracked object. A process holding 10,000
sockets tracks about a million, so a full pass stops the event loop for most of a second,
and it comes exactly when the heap grows fastest: while a room fills and while it buys.
Measured in a rush (docs/benchmarks.md), one such pass held every buyer's answer for 750 ms.

So automatic collection stops at the young generations (bounded, cheap), and this module
runs the old one itself:

- a *sweep* about once a second: a full collection of what is not frozen, then ``gc.freeze``,
  so what survived (sockets, rooms, sessions: long-lived by nature) is not walked again.
  Each sweep only walks what arrived since the last, a few milliseconds;
- a *deep* pass every ``deep_every_s``: unfreeze, collect everything, freeze. This reclaims
  cycles that died after being frozen. It is the long pause, so it waits while the process
  is selling (``busy``), up to ``max_defer_s``.

Sweeps wait while busy too (up to ``max_defer_s``): the young generations keep running, so
short-lived garbage is still reclaimed during a rush.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from livecommerce.runtime import metrics
from livecommerce.runtime.lifecycle import stop_task

log = logging.getLogger("livecommerce.collector")

NEVER = 1 << 30  # a gen-2 threshold that automatic collection never reaches


class Action(Enum):
    WAIT = "wait"
    SWEEP = "sweep"
    DEEP = "deep"


@dataclass(frozen=True, slots=True)
class Pacing:
    young: int = 50_000
    middle: int = 20
    sweep_every_s: float = 1.0
    deep_every_s: float = 600.0
    max_defer_s: float = 30.0


def decide(pacing: Pacing, now: float, busy: bool, last_sweep: float, last_deep: float) -> Action:
    """The next step, from the clock alone: a deep pass first when due, then a sweep."""
    deep_due = now - last_deep >= pacing.deep_every_s
    if deep_due and (not busy or now - last_deep >= pacing.deep_every_s + pacing.max_defer_s):
        return Action.DEEP
    sweep_due = now - last_sweep >= pacing.sweep_every_s
    if sweep_due and (not busy or now - last_sweep >= pacing.max_defer_s):
        return Action.SWEEP
    return Action.WAIT


class Collector:
    """Owns the process's garbage collection while running; ``stop`` gives it back."""

    def __init__(
        self,
        busy: Callable[[], bool],
        pacing: Pacing = Pacing(),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.busy = busy
        self.pacing = pacing
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._thresholds: tuple[int, int, int] | None = None
        self._began = 0.0
        self.last_sweep = 0.0
        self.last_deep = 0.0

    def start(self) -> None:
        self._thresholds = gc.get_threshold()
        gc.collect()
        gc.freeze()  # what was built at start-up lives as long as the process
        gc.set_threshold(self.pacing.young, self.pacing.middle, NEVER)
        gc.callbacks.append(self._observe)
        self.last_sweep = self.last_deep = self.clock()
        self._task = asyncio.create_task(self._run(), name="collector")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None
        if self._observe in gc.callbacks:
            gc.callbacks.remove(self._observe)
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            gc.unfreeze()
            self._thresholds = None

    def step(self) -> Action:
        now = self.clock()
        action = decide(self.pacing, now, self.busy(), self.last_sweep, self.last_deep)
        if action is Action.DEEP:
            started = time.perf_counter()
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            took = time.perf_counter() - started
            self.last_deep = self.last_sweep = now
            log.info("deep collection", extra={"ms": round(took * 1000, 1)})
        elif action is Action.SWEEP:
            gc.collect()
            gc.freeze()
            self.last_sweep = now
        return action

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.pacing.sweep_every_s / 4)
            self.step()

    def _observe(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            metrics.GC_PAUSE.labels(str(info["generation"])).observe(
                time.perf_counter() - self._began
            )
