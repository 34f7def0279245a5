"""Reactions: taps are summed per short tick, never sent one event per tap.

A room with thousands of viewers tapping hearts would otherwise turn every tap into a
broadcast to every viewer. Each process sums taps per room per tick and publishes one
``reactions`` message; receivers sum again until their next flush.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

FLUSH_EVERY_S = 0.2  # how often each process publishes its rooms' sums (a tap waits at most this)


@dataclass(slots=True)
class ReactionTally:
    counts: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, room_id: str, kind: str, n: int = 1) -> None:
        self.counts.setdefault(room_id, Counter())[kind] += n

    def drain(self) -> dict[str, dict[str, int]]:
        """Everything since the last drain, as plain maps ready for the wire."""
        drained = {room: dict(counter) for room, counter in self.counts.items() if counter}
        self.counts = {}
        return drained


def merge_counts(into: dict[str, int], counts: dict[str, int]) -> None:
    for kind, n in counts.items():
        into[kind] = into.get(kind, 0) + n
