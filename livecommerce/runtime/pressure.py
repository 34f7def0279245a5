"""How hard-pressed a process is: samples in, a level and a retry hint out (no I/O).

One process runs every socket of its viewers on one event loop, so the loop's lag (how late a
timer fires) is the measure that matters to a buyer: a reserve needs several turns of the
loop, and each turn waits behind whatever is queued. The edge (``shedding.py``) measures the
lag and feeds it here; this model decides the level.

Levels rise at once and fall one step at a time, and only after the cause has been gone for
``hold_s``: a process at the edge of its capacity would otherwise admit a wave of joins the
moment its lag dips, which is what pushed it over in the first place. Lag is smoothed, and
for the level each sample counts at most ``CAP`` times the shedding line, so one long pause
(a deep garbage collection of 10,000 sockets takes most of a second) makes a process busy,
not shedding: it takes lag that lasts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

# The weight of the newest lag sample in the smoothed lag.
SMOOTHING = 0.5
# The most one sample counts for the level, in shedding lines: one alone stays under it.
CAP = 1.5


class Level(IntEnum):
    NORMAL = 0
    BUSY = 1  # ambient updates slow down, chat is metered process-wide
    SHEDDING = 2  # new joins and viewing sessions are turned away with a retry hint


# How much longer ambient updates (viewer counts, units left, tallies, reactions) wait.
PACE = {Level.NORMAL: 1.0, Level.BUSY: 2.0, Level.SHEDDING: 4.0}


@dataclass(frozen=True, slots=True)
class Thresholds:
    busy_lag_s: float = 0.02
    shed_lag_s: float = 0.06
    hold_s: float = 2.0
    pending_joins: int = 0  # joins under way at once that alone mean shedding; 0: lag only
    retry_min_s: float = 2.0  # a refused crowd comes back spread over 2 s or more
    retry_max_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.busy_lag_s <= self.shed_lag_s:
            raise ValueError("the busy lag must be above 0 and at most the shedding lag")
        if self.hold_s < 0 or self.pending_joins < 0:
            raise ValueError("the hold and the joins under way cannot be negative")
        if not 0 < self.retry_min_s <= self.retry_max_s:
            raise ValueError("the shortest retry hint must be above 0 and at most the longest")


class Pressure:
    """The level, from samples of the loop's lag (and, optionally, of joins a second).

    ``random`` returns a float in [0, 1): the retry hint's jitter, injected so tests can pin it.
    """

    def __init__(self, thresholds: Thresholds, *, random: Callable[[], float]) -> None:
        self.thresholds = thresholds
        self.random = random
        self.level = Level.NORMAL
        self.lag_s = 0.0  # smoothed: what the gauge shows and the retry hint grows with
        self._steady_lag_s = 0.0  # smoothed with each sample capped: what the level follows
        self.pending_joins = 0
        self.changed_at = float("-inf")
        self._justified_at = float("-inf")  # the last sample that called for today's level

    def observe(self, now: float, lag_s: float, pending_joins: int = 0) -> Level:
        """One sample, taken at ``now`` (seconds, any monotonic origin): the loop's lag and
        the joins under way (accepted, not yet welcomed); the level after it."""
        lag_s = max(lag_s, 0.0)
        self.lag_s = SMOOTHING * lag_s + (1 - SMOOTHING) * self.lag_s
        capped = min(lag_s, CAP * self.thresholds.shed_lag_s)
        self._steady_lag_s = SMOOTHING * capped + (1 - SMOOTHING) * self._steady_lag_s
        self.pending_joins = max(pending_joins, 0)
        wanted = self._wanted()
        if wanted > self.level:
            self._change(now, wanted)
        elif wanted == self.level:
            self._justified_at = now
        elif (
            now - self._justified_at >= self.thresholds.hold_s
            and now - self.changed_at >= self.thresholds.hold_s
        ):
            self._change(now, Level(self.level - 1))
        return self.level

    def _wanted(self) -> Level:
        t = self.thresholds
        if self._steady_lag_s >= t.shed_lag_s or self.too_many_joins(self.pending_joins):
            return Level.SHEDDING
        if self._steady_lag_s >= t.busy_lag_s:
            return Level.BUSY
        return Level.NORMAL

    def too_many_joins(self, pending: int) -> bool:
        """A join queue this long is saturation even while the loop's timers still run on
        time: each join is many short turns, and the queue, not the lag, grows."""
        limit = self.thresholds.pending_joins
        return bool(limit) and pending >= limit

    def _change(self, now: float, level: Level) -> None:
        self.level = level
        self.changed_at = now
        self._justified_at = now

    @property
    def pace(self) -> float:
        return PACE[self.level]

    def retry_after(self) -> float:
        """Seconds a turned-away client should wait: longer the further past the line the
        process is, and spread over twice that, so a refused crowd does not come back as one."""
        t = self.thresholds
        over = self.lag_s / t.shed_lag_s
        if t.pending_joins:
            over = max(over, self.pending_joins / t.pending_joins)
        base = min(t.retry_max_s, t.retry_min_s * max(1.0, over))
        return min(t.retry_max_s, base * (1.0 + self.random()))
