"""Viewer counts: each process reports its sockets per room, and its sockets hear the room's
total across processes only when it has changed. Against the real Valkey."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from livecommerce.events import Viewers
from livecommerce.rooms.store import RoomStore
from livecommerce.rooms.viewers import ViewerCounts, viewers_event
from livecommerce.store.history import Store


@dataclass
class RoomHere:
    """A room as one process serves it: its sockets and what they were told."""

    room_id: str
    members: list[str]
    viewers_reported: int = -1
    told: list[Viewers] = field(default_factory=list)

    def deliver_local(self, event: Viewers) -> None:
        self.told.append(event)


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RoomStore]:
    store = Store.from_url(redis_url)
    yield RoomStore(store.client, store.scripts, stream_max_len=store.stream_max_len)
    await store.close()


def test_a_total_is_told_only_when_it_changed() -> None:
    assert viewers_event(3, -1) == {"type": "viewers", "count": 3}
    assert viewers_event(3, 3) is None
    assert viewers_event(0, 3) == {"type": "viewers", "count": 0}


async def test_two_processes_viewers_add_up_and_a_steady_room_hears_nothing_more(
    store: RoomStore,
) -> None:
    now = 1_000_000.0
    here = {"r1": RoomHere("r1", ["ada", "bo"])}
    there = {"r1": RoomHere("r1", ["cy"])}
    first = ViewerCounts(here, store.report_viewers, process_id="p1", clock=lambda: now)
    second = ViewerCounts(there, store.report_viewers, process_id="p2", clock=lambda: now)

    await first.tick()
    await second.tick()
    await first.tick()
    await first.tick()

    assert here["r1"].told == [{"type": "viewers", "count": 2}, {"type": "viewers", "count": 3}]
    assert there["r1"].told == [{"type": "viewers", "count": 3}]

    there["r1"].members.clear()  # the other process's viewer leaves
    await second.tick()
    await first.tick()
    assert here["r1"].told[-1] == {"type": "viewers", "count": 2}
