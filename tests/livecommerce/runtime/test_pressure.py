"""The pressure model: lag samples in, a level and a retry hint out. No loop, no clock."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecommerce.runtime.pressure import PACE, Level, Pressure, Thresholds

CALM = 0.001
T = Thresholds(busy_lag_s=0.02, shed_lag_s=0.06, hold_s=2.0, retry_min_s=1.0)


def model(thresholds: Thresholds = T, jitter: float = 0.0) -> Pressure:
    return Pressure(thresholds, random=lambda: jitter)


def test_a_calm_process_admits_everyone() -> None:
    pressure = model()
    for second in range(10):
        assert pressure.observe(second / 10, CALM) is Level.NORMAL
    assert pressure.pace == 1.0


def test_a_lagging_loop_sheds_at_once_and_calms_down_one_step_per_hold() -> None:
    pressure = model()
    pressure.observe(0.0, 0.5)
    assert pressure.observe(0.0, 0.5) is Level.SHEDDING
    now = 0.0
    levels = []
    while now < 6.0:
        now += 0.1
        levels.append((round(now, 1), pressure.observe(now, CALM)))
    pairs = zip(levels[1:], levels[:-1], strict=True)
    stepped = [(at, level) for (at, level), (_, before) in pairs if level < before]
    assert [level for _, level in stepped] == [Level.BUSY, Level.NORMAL]
    assert stepped[0][0] >= 2.0
    assert stepped[1][0] - stepped[0][0] >= 2.0


def test_one_garbage_collector_pause_makes_a_process_busy_not_shedding() -> None:
    pressure = model()
    pressure.observe(0.0, CALM)
    assert pressure.observe(0.1, 0.7) is Level.BUSY  # a deep collection of 9,000 sockets
    assert pressure.lag_s == pytest.approx(0.35, abs=0.001)  # the gauge shows it all
    assert pressure.observe(0.2, CALM) is Level.BUSY
    lasting = model()
    lasting.observe(0.0, 0.1)
    assert lasting.observe(0.1, 0.1) is Level.SHEDDING  # lag that lasts is pressure


def test_a_queue_of_joins_sheds_while_the_loop_still_keeps_time() -> None:
    pressure = model(replace(T, pending_joins=400))
    assert pressure.observe(0.0, CALM, pending_joins=399) is Level.NORMAL
    assert pressure.observe(0.1, CALM, pending_joins=400) is Level.SHEDDING
    assert pressure.too_many_joins(400)
    assert not pressure.too_many_joins(399)
    assert model().observe(0.0, CALM, pending_joins=10_000) is Level.NORMAL  # 0: lag only
    assert not model().too_many_joins(10_000)


def test_the_retry_hint_grows_with_the_lag_and_is_spread_by_the_jitter() -> None:
    low, high = model(jitter=0.0), model(jitter=0.999)
    for pressure in (low, high):
        pressure.observe(0.0, 0.12)  # the hint follows the whole lag, smoothed: 60 ms
    assert low.retry_after() == pytest.approx(1.0)  # smoothed lag 60 ms: the line itself
    assert high.retry_after() == pytest.approx(2.0, abs=0.01)
    worse = model()
    worse.observe(0.0, 1.2)
    assert worse.retry_after() == pytest.approx(10.0)
    assert model(jitter=0.999).retry_after() < 2.0


def test_the_pace_slows_ambient_updates_harder_with_each_level() -> None:
    assert PACE[Level.NORMAL] < PACE[Level.BUSY] < PACE[Level.SHEDDING]


@pytest.mark.parametrize(
    "fields",
    [
        {"busy_lag_s": 0.1, "shed_lag_s": 0.05},
        {"busy_lag_s": 0},
        {"hold_s": -1},
        {"pending_joins": -1},
        {"retry_min_s": 5, "retry_max_s": 1},
    ],
)
def test_thresholds_that_cannot_work_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"cannot|must"):
        Thresholds(**fields)


samples = st.lists(
    st.tuples(st.floats(0.001, 1.0), st.floats(0.0, 0.5), st.integers(0, 500)),
    min_size=1,
    max_size=60,
)


def _run(pressure: Pressure, steps: list[tuple[float, float, int]]) -> list[tuple[float, Level]]:
    now, seen = 0.0, []
    for gap, lag, joins in steps:
        now += gap
        seen.append((now, pressure.observe(now, lag, joins)))
    return seen


@given(samples)
def test_the_level_never_falls_sooner_than_the_hold_after_it_last_changed(
    steps: list[tuple[float, float, int]],
) -> None:
    pressure = model(replace(T, pending_joins=200))
    changed_at, level = float("-inf"), Level.NORMAL
    for now, after in _run(pressure, steps):
        if after < level:
            assert now - changed_at >= T.hold_s
            assert after == level - 1  # one step at a time
        if after != level:
            changed_at, level = now, after


@given(samples, st.floats(0.0, 0.5), st.floats(0.0, 0.5), st.floats(0.001, 1.0))
def test_more_lag_never_means_a_lower_level(
    steps: list[tuple[float, float, int]], lag: float, more: float, gap: float
) -> None:
    one, other = model(), model()
    _run(one, steps)
    _run(other, steps)
    now = sum(step[0] for step in steps) + gap
    assert one.observe(now, lag) <= other.observe(now, lag + more)


@given(samples, st.floats(0.0, 0.999))
def test_the_retry_hint_stays_within_its_bounds(
    steps: list[tuple[float, float, int]], jitter: float
) -> None:
    pressure = model(replace(T, pending_joins=200), jitter=jitter)
    _run(pressure, steps)
    assert T.retry_min_s <= pressure.retry_after() <= T.retry_max_s
