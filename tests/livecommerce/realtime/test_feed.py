"""The feed puts whatever pub/sub delivers back into order, without gaps or repeats."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from livecommerce.realtime.feed import Gap, RoomFeed


def ev(seq: int) -> dict[str, object]:
    return {"type": "chat.message", "seq": seq}


def test_in_order_events_pass_straight_through() -> None:
    feed = RoomFeed()
    feed.start(10)
    for seq in (11, 12, 13):
        assert feed.offer(ev(seq)) is None
    assert [e["seq"] for e in feed.take_batch()] == [11, 12, 13]
    assert feed.take_batch() == []


def test_duplicates_and_old_events_are_dropped() -> None:
    feed = RoomFeed()
    feed.start(5)
    feed.offer(ev(5))
    feed.offer(ev(6))
    feed.offer(ev(6))
    assert [e["seq"] for e in feed.take_batch()] == [6]


def test_a_gap_is_reported_and_held_events_wait_for_the_fill() -> None:
    feed = RoomFeed()
    feed.start(1)
    assert feed.offer(ev(2)) is None
    assert feed.offer(ev(5)) == Gap(after=2, before=5)
    assert feed.offer(ev(6)) == Gap(after=2, before=5)
    assert [e["seq"] for e in feed.take_batch()] == [2]
    feed.fill([ev(3), ev(4)])
    assert feed.gap is None
    assert [e["seq"] for e in feed.take_batch()] == [3, 4, 5, 6]


def test_events_before_the_start_are_ignored() -> None:
    feed = RoomFeed()
    assert feed.offer(ev(1)) is None
    assert not feed.has_output()


def test_ephemeral_state_is_coalesced_to_the_latest() -> None:
    feed = RoomFeed()
    feed.start(0)
    feed.offer_ephemeral({"type": "viewers", "count": 3})
    feed.offer_ephemeral({"type": "viewers", "count": 4})
    feed.offer_ephemeral({"type": "reactions", "counts": {"heart": 2}})
    feed.offer_ephemeral({"type": "reactions", "counts": {"heart": 1, "fire": 1}})
    feed.offer_ephemeral({"type": "sale.stock", "sale_id": "s1", "available": 9})
    feed.offer_ephemeral({"type": "sale.stock", "sale_id": "s2", "available": 5})
    feed.offer_ephemeral({"type": "sale.stock", "sale_id": "s1", "available": 8})
    feed.offer(ev(1))
    batch = feed.take_batch()
    assert batch[0] == ev(1)  # ordered events first
    assert {"type": "viewers", "count": 4} in batch
    assert {"type": "reactions", "counts": {"heart": 3, "fire": 1}} in batch
    stock = [e for e in batch if e["type"] == "sale.stock"]
    assert stock == [
        {"type": "sale.stock", "sale_id": "s2", "available": 5},
        {"type": "sale.stock", "sale_id": "s1", "available": 8},
    ]


def test_recent_memory_answers_resumes_it_can_and_refuses_those_it_cannot() -> None:
    feed = RoomFeed(recent_size=3)
    feed.start(0)
    for seq in range(1, 6):
        feed.offer(ev(seq))
    assert [e["seq"] for e in feed.recent_after(3) or []] == [4, 5]
    assert feed.recent_after(5) == []
    assert feed.recent_after(1) is None  # seq 2 fell out of memory


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=1000),
    st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=120),
)
def test_whatever_the_delivery_order_the_output_is_complete_and_ordered(
    start: int, raw: list[int]
) -> None:
    """Pub/sub may drop, repeat or (across reconnects) reorder; the stream fills the holes."""
    top = max(raw)
    stream = {seq: ev(start + seq) for seq in range(1, top + 1)}
    feed = RoomFeed()
    feed.start(start)
    out: list[int] = []
    for seq in raw:
        gap = feed.offer(ev(start + seq))
        if gap is not None:
            feed.fill([stream[s - start] for s in range(gap.after + 1, gap.before)])
        out += [e["seq"] for e in feed.take_batch()]
    assert out == list(range(start + 1, start + top + 1))
    assert feed.gap is None
