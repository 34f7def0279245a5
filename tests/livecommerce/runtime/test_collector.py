"""Garbage collection that waits out a rush and never walks the long-lived heap every time."""

from __future__ import annotations

import gc

import pytest

from livecommerce.runtime.collector import NEVER, Action, Collector, Pacing, decide

P = Pacing(sweep_every_s=1.0, deep_every_s=600.0, max_defer_s=30.0)


@pytest.mark.parametrize(
    ("now", "busy", "last_sweep", "last_deep", "action"),
    [
        (1000.5, False, 1000.0, 1000.0, Action.WAIT),  # nothing due
        (1001.0, False, 1000.0, 1000.0, Action.SWEEP),
        (1001.0, True, 1000.0, 1000.0, Action.WAIT),  # selling: the sweep waits
        (1029.9, True, 1000.0, 1000.0, Action.WAIT),
        (1030.0, True, 1000.0, 1000.0, Action.SWEEP),  # but not for ever
        (1600.0, False, 1599.5, 1000.0, Action.DEEP),
        (1600.0, True, 1599.5, 1000.0, Action.WAIT),  # the long pause waits out the rush
        (1630.0, True, 1629.5, 1000.0, Action.DEEP),  # up to max_defer_s
    ],
)
def test_the_pacing_rules(
    now: float, busy: bool, last_sweep: float, last_deep: float, action: Action
) -> None:
    assert decide(P, now, busy, last_sweep, last_deep) is action


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_the_collector_takes_over_collection_and_gives_it_back() -> None:
    before = gc.get_threshold()
    clock = Clock()
    selling = False
    collector = Collector(lambda: selling, P, clock=clock)
    collector.start()
    try:
        assert gc.get_threshold()[2] == NEVER  # no automatic full pass any more
        assert gc.get_freeze_count() > 0  # start-up objects are out of the way
        frozen = gc.get_freeze_count()

        cycles: list[list[object]] = [[] for _ in range(1000)]
        for c in cycles:
            c.append(c)  # survivors of the young generations, as sockets would be
        gc.collect(1)
        clock.now += 1
        selling = True
        assert collector.step() is Action.WAIT
        selling = False
        assert collector.step() is Action.SWEEP
        assert gc.get_freeze_count() >= frozen + 1000

        del cycles
        clock.now += 600
        assert collector.step() is Action.DEEP  # the frozen cycles are reclaimed here
        assert gc.get_freeze_count() < frozen + 1000
    finally:
        await collector.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
