"""The feed puts whatever pub/sub delivers back into order, without gaps or repeats, and
decides what each viewer who joins or comes back gets."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livecommerce.events import Event
from livecommerce.realtime.feed import (
    Action,
    Admit,
    FeedProtocol,
    FetchRange,
    FetchSeq,
    FetchSnapshot,
    Gap,
    RaiseSeq,
    Restart,
    ResyncLater,
    RoomFeed,
)


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


# The room's order as a protocol: events in, actions out, no server and no Redis. -------


@dataclass(frozen=True)
class Snap:
    """A snapshot as the protocol sees one: the seq it was read at and its latest events."""

    seq: int
    recent: list[Event]


Viewer = str


def actions(protocol: FeedProtocol[Viewer, Snap]) -> list[Action[Viewer, Snap]]:
    """Everything the protocol asks for before it needs an answer (an Admit needs none)."""
    taken = []
    while (action := protocol.next_action()) is not None:
        taken.append(action)
    return taken


def seqs(events: list[Event]) -> list[int]:
    return [e["seq"] for e in events]


def room_at(seq: int, recent: int = 512) -> FeedProtocol[Viewer, Snap]:
    """A room this process has followed since its host opened it, up to line ``seq``."""
    protocol: FeedProtocol[Viewer, Snap] = FeedProtocol(recent_size=recent)
    protocol.receive_joins([("host", None)])
    assert actions(protocol) == [FetchSnapshot()]
    protocol.receive_snapshot(Snap(0, []))
    assert actions(protocol) == [Admit(["host"], [], Snap(0, []), 0)]
    for s in range(1, seq + 1):
        protocol.receive_event(ev(s))
    assert seqs(protocol.take_batch()) == list(range(1, seq + 1))
    assert not protocol.actions
    return protocol


def test_a_viewer_back_within_memory_gets_what_it_missed_without_a_read() -> None:
    room = room_at(15)
    room.receive_joins([("ana", 12)])
    [admit] = actions(room)
    assert isinstance(admit, Admit)
    assert (admit.joins, seqs(admit.events), admit.snapshot, admit.seq) == (
        ["ana"],
        [13, 14, 15],
        None,
        15,
    )


def test_a_viewer_back_from_the_present_gets_nothing_old() -> None:
    room = room_at(15)
    room.receive_joins([("ana", 15)])
    assert actions(room) == [Admit(["ana"], [], None, 15)]


def test_a_viewer_back_from_before_memory_is_caught_up_from_the_stream() -> None:
    room = room_at(20, recent=5)
    room.receive_joins([("ana", 3)])
    assert actions(room) == [FetchRange(3, 20)]
    room.receive_range([ev(s) for s in range(4, 21)])
    [admit] = actions(room)
    assert isinstance(admit, Admit)
    assert (admit.joins, seqs(admit.events), admit.snapshot) == (["ana"], list(range(4, 21)), None)


def test_a_viewer_back_from_further_than_the_history_gets_a_fresh_welcome() -> None:
    room = room_at(20, recent=5)
    room.receive_joins([("ana", 3)])
    assert actions(room) == [FetchRange(3, 20)]
    room.receive_range(None)  # the stream was trimmed past seq 3
    assert actions(room) == [FetchSnapshot()]
    snapshot = Snap(20, [ev(s) for s in range(1, 21)])
    room.receive_snapshot(snapshot)
    assert actions(room) == [Admit(["ana"], [], snapshot, 20)]


def test_a_viewer_claiming_a_seq_from_the_future_gets_a_fresh_welcome() -> None:
    room = room_at(5)
    room.receive_joins([("ana", 99)])
    assert actions(room) == [FetchSnapshot()]


def test_an_opening_rush_of_viewers_shares_one_snapshot() -> None:
    room = room_at(5)
    room.receive_joins([("ana", None), ("bo", 3), ("cy", None), ("dan", 99)])
    [bo, fetch] = actions(room)
    assert isinstance(bo, Admit)
    assert (bo.joins, seqs(bo.events)) == (["bo"], [4, 5])
    assert fetch == FetchSnapshot()
    snapshot = Snap(5, [ev(s) for s in range(1, 6)])
    room.receive_snapshot(snapshot)
    assert actions(room) == [Admit(["ana", "cy", "dan"], [], snapshot, 5)]


def test_the_first_viewer_back_on_a_process_new_to_the_room_asks_where_the_room_is() -> None:
    room: FeedProtocol[Viewer, Snap] = FeedProtocol()
    room.receive_joins([("ana", 7)])
    assert actions(room) == [FetchSeq()]
    room.receive_seq(9)
    assert actions(room) == [FetchRange(7, 9)]
    room.receive_range([ev(8), ev(9)])
    [admit] = actions(room)
    assert isinstance(admit, Admit)
    assert (admit.joins, seqs(admit.events), admit.seq) == (["ana"], [8, 9], 9)


def test_a_welcome_ahead_of_pubsub_brings_the_room_up_to_it_first() -> None:
    """The snapshot saw lines 11 to 13 before the bus did: the members get them, then the
    newcomer is welcomed at 13, so nobody misses them and nobody sees them twice."""
    room = room_at(10)
    room.receive_joins([("ana", None)])
    assert actions(room) == [FetchSnapshot()]
    snapshot = Snap(13, [ev(s) for s in range(1, 13)])  # 13 fell off the snapshot's recent
    room.receive_snapshot(snapshot)
    assert actions(room) == [FetchRange(12, 13)]
    room.receive_range([ev(13)])
    assert actions(room) == [Admit(["ana"], [], snapshot, 13)]
    assert seqs(room.take_batch()) == [11, 12, 13]
    room.receive_event(ev(13))  # pub/sub catches up: nothing doubles
    assert room.take_batch() == []


def test_lines_the_welcome_is_behind_reach_the_newcomer_after_it() -> None:
    room = room_at(12)
    room.receive_joins([("ana", None)])
    snapshot = Snap(10, [ev(s) for s in range(1, 11)])
    actions(room)
    room.receive_snapshot(snapshot)
    [admit] = actions(room)
    assert isinstance(admit, Admit)
    assert (seqs(admit.events), admit.snapshot, admit.seq) == ([11, 12], snapshot, 12)


def test_a_welcome_older_than_memory_is_followed_by_the_lines_after_it_from_the_stream() -> None:
    room = room_at(20, recent=5)
    room.receive_joins([("ana", None)])
    actions(room)
    snapshot = Snap(10, [ev(s) for s in range(1, 11)])
    room.receive_snapshot(snapshot)
    assert actions(room) == [FetchRange(10, 20)]
    room.receive_range([ev(s) for s in range(11, 21)])
    [admit] = actions(room)
    assert isinstance(admit, Admit)
    assert (seqs(admit.events), admit.snapshot, admit.seq) == (list(range(11, 21)), snapshot, 20)


def test_a_line_pubsub_dropped_is_read_back_and_the_next_waits_for_it() -> None:
    room = room_at(11)
    room.receive_event(ev(14))
    assert actions(room) == [FetchRange(11, 13, gap=True)]
    assert room.take_batch() == []  # 14 waits: nobody sees it before 12 and 13
    room.receive_range([ev(12), ev(13)])
    assert actions(room) == []
    assert seqs(room.take_batch()) == [12, 13, 14]


def test_two_holes_left_by_a_failed_read_back_are_filled_in_order() -> None:
    room = room_at(10)
    room.receive_event(ev(12))
    assert actions(room) == [FetchRange(10, 11, gap=True)]
    room.receive_failure()
    assert actions(room) == [ResyncLater(0.05)]
    room.receive_event(ev(15))
    assert actions(room) == [FetchRange(10, 11, gap=True)]
    room.receive_range([ev(11)])
    assert actions(room) == [FetchRange(12, 14, gap=True)]
    room.receive_range([ev(13), ev(14)])
    assert actions(room) == []
    assert seqs(room.take_batch()) == [11, 12, 13, 14, 15]


def test_repeated_and_late_lines_reach_the_viewers_once_in_order() -> None:
    room = room_at(10)
    for seq in (11, 11, 10, 13):
        room.receive_event(ev(seq))
    assert actions(room) == [FetchRange(11, 12, gap=True)]
    room.receive_event(ev(12))  # the dropped line turns up late, during the read
    room.receive_event(ev(13))
    room.receive_range([ev(12)])
    assert actions(room) == []
    assert seqs(room.take_batch()) == [11, 12, 13]


def test_a_viewer_joining_while_lines_are_read_back_starts_after_them() -> None:
    room = room_at(11)
    room.receive_event(ev(14))
    assert actions(room) == [FetchRange(11, 13, gap=True)]
    room.receive_joins([("ana", None), ("bo", 11)])
    assert actions(room) == []  # nobody is admitted into a room with a hole in it
    room.receive_range([ev(12), ev(13)])
    [bo, fetch] = actions(room)
    assert isinstance(bo, Admit)
    assert (bo.joins, seqs(bo.events), bo.seq) == (["bo"], [12, 13, 14], 14)
    assert fetch == FetchSnapshot()
    snapshot = Snap(14, [ev(s) for s in range(1, 15)])
    room.receive_snapshot(snapshot)
    assert actions(room) == [Admit(["ana"], [], snapshot, 14)]


def test_lines_arriving_while_a_resume_is_read_reach_the_viewer_after_its_catch_up() -> None:
    room = room_at(20, recent=5)
    room.receive_joins([("ana", 3)])
    assert actions(room) == [FetchRange(3, 20)]
    room.receive_event(ev(21))  # waits: ana's catch-up ends at 20
    room.receive_range([ev(s) for s in range(4, 21)])
    [admit] = actions(room)
    assert isinstance(admit, Admit)
    assert (seqs(admit.events)[-1], admit.seq) == (20, 20)
    assert seqs(room.take_batch()) == [21]  # the next batch, which ana is part of


def test_viewers_through_a_redis_outage_get_every_line_once_it_is_back() -> None:
    room = room_at(10)
    room.receive_ephemeral({"type": "unavailable", "retry_after": 2})
    assert room.take_batch() == [{"type": "unavailable", "retry_after": 2}]

    room.receive_resync()  # the bus is back, but Redis still refuses the first reads
    assert actions(room) == [FetchSeq()]
    room.receive_failure()
    assert actions(room) == [ResyncLater(0.05)]
    assert room.retrying
    room.receive_event(ev(13))  # a line after the outage: 11 and 12 went missing meanwhile
    assert actions(room) == [FetchRange(10, 12, gap=True)]
    room.receive_failure()
    assert actions(room) == []  # one retry at a time
    room.retry_due()
    room.receive_resync()
    assert actions(room) == [FetchSeq()]
    room.receive_failure()
    assert actions(room) == [ResyncLater(0.1)]

    room.retry_due()
    room.receive_resync()
    assert actions(room) == [FetchSeq()]
    room.receive_seq(13)
    assert actions(room) == [FetchRange(10, 13)]
    room.receive_range([ev(11), ev(12), ev(13)])
    assert actions(room) == []
    assert seqs(room.take_batch()) == [11, 12, 13]
    assert not room.retrying


def test_a_viewer_joining_during_the_outage_is_refused_and_the_next_one_is_not() -> None:
    room = room_at(10)
    room.receive_joins([("ana", None)])
    assert actions(room) == [FetchSnapshot()]
    room.receive_failure()
    assert actions(room) == [ResyncLater(0.05)]
    room.receive_joins([("ana", None)])
    assert actions(room) == [FetchSnapshot()]
    snapshot = Snap(10, [ev(s) for s in range(1, 11)])
    room.receive_snapshot(snapshot)
    assert actions(room) == [Admit(["ana"], [], snapshot, 10)]


def test_a_quiet_room_back_from_an_outage_reads_back_nothing_when_nothing_was_missed() -> None:
    room = room_at(10)
    room.receive_resync()
    assert actions(room) == [FetchSeq()]
    room.receive_seq(10)
    assert actions(room) == []


def test_a_failover_that_took_the_rooms_seq_back_lifts_it_and_everyone_restarts() -> None:
    """The primary died before its replica had seqs 9 and 10, which this process delivered.
    Without a lift, the next two events would be numbered 9 and 10 again and dropped here as
    repeats; with it they are 11 and 12, and the members start afresh from a snapshot."""
    room = room_at(10)
    room.receive_resync()  # the bus link came back, on the promoted replica
    assert actions(room) == [FetchSeq()]
    room.receive_seq(8)
    assert actions(room) == [RaiseSeq(10), Restart()]
    room.receive_joins([("ana", 10)])  # a member comes back with what it had
    assert actions(room) == [FetchSeq()]
    room.receive_seq(10)  # lifted
    assert actions(room) == [Admit(["ana"], [], None, 10)]
    room.receive_event(ev(11))
    assert seqs(room.take_batch()) == [11]


def test_when_the_history_no_longer_reaches_back_everyone_restarts() -> None:
    room = room_at(10)
    room.receive_resync()
    actions(room)
    room.receive_seq(900)
    assert actions(room) == [FetchRange(10, 900)]
    room.receive_range(None)
    assert actions(room) == [Restart()]
    room.receive_event(ev(901))  # nobody is left to tell until someone joins afresh
    assert not room.has_output()
    room.receive_joins([("ana", None)])
    assert actions(room) == [FetchSnapshot()]


def test_a_gap_older_than_the_history_restarts_everyone() -> None:
    room = room_at(10)
    room.receive_event(ev(500))
    assert actions(room) == [FetchRange(10, 499, gap=True)]
    room.receive_range(None)
    assert actions(room) == [Restart()]
    assert not room.feed.started


def test_a_welcome_whose_catch_up_is_gone_restarts_the_others_and_starts_at_it() -> None:
    room = room_at(10)
    room.receive_joins([("ana", None)])
    actions(room)
    snapshot = Snap(900, [ev(s) for s in range(601, 901)])
    room.receive_snapshot(snapshot)
    assert actions(room) == [FetchRange(10, 900)]
    room.receive_range(None)
    assert actions(room) == [Restart(), Admit(["ana"], [], snapshot, 900)]


def test_an_answer_nobody_asked_for_is_a_driver_bug() -> None:
    room = room_at(10)
    with pytest.raises(RuntimeError):
        room.receive_range([])


class Show:
    """Redis, pub/sub and a channel around one protocol, in memory: what each viewer sees.

    Reads stay unanswered until an ``answer`` or ``fail`` step, so lines and joins also
    arrive while one is outstanding, as they could for any driver.
    """

    def __init__(self, snapshot_recent: int) -> None:
        self.room: FeedProtocol[int, Snap] = FeedProtocol(recent_size=8)
        self.snapshot_recent = snapshot_recent
        self.published = 0
        self.dropped: list[int] = []
        self.since: dict[int, int | None] = {}
        self.start: dict[int, int] = {}
        self.seen: dict[int, list[int]] = {}
        self.maybe_refused: set[int] = set()
        self.reading: FetchRange | FetchSeq | FetchSnapshot | None = None

    def step(self, op: tuple[str, int]) -> None:
        kind, n = op
        if kind == "post":
            self.published += 1
            if n == 0:
                self.dropped.append(self.published)
            for _ in range(n):
                self.room.receive_event(ev(self.published))
        elif kind == "late" and self.dropped:
            self.room.receive_event(ev(self.dropped.pop(0)))
        elif kind == "join":
            viewer = len(self.since)
            self.since[viewer] = None if n == 0 else max(0, self.published + 3 - n)
            self.room.receive_joins([(viewer, self.since[viewer])])
        elif kind == "flush":
            self.broadcast()
        elif kind == "resync":
            self.room.receive_resync()
        elif kind == "answer" and self.reading is not None:
            self.answer()
        elif kind == "fail" and self.reading is not None:
            self.reading = None
            self.maybe_refused |= set(self.since) - set(self.start)
            self.room.receive_failure()
        self.carry_out()

    def carry_out(self) -> None:
        while self.reading is None and (action := self.room.next_action()) is not None:
            if isinstance(action, FetchRange | FetchSeq | FetchSnapshot):
                self.reading = action
            elif isinstance(action, Admit):
                self.admit(action)
            else:
                assert isinstance(action, ResyncLater)  # the history is never trimmed here

    def answer(self) -> None:
        reading, self.reading = self.reading, None
        if isinstance(reading, FetchRange):
            assert reading.until <= self.published
            self.room.receive_range([ev(s) for s in range(reading.after + 1, reading.until + 1)])
        elif isinstance(reading, FetchSeq):
            self.room.receive_seq(self.published)
        elif isinstance(reading, FetchSnapshot):
            first = max(1, self.published - self.snapshot_recent + 1)
            recent = [ev(s) for s in range(first, self.published + 1)]
            self.room.receive_snapshot(Snap(self.published, recent))

    def admit(self, action: Admit[int, Snap]) -> None:
        self.broadcast()
        for viewer in action.joins:
            since = self.since[viewer]
            start = action.snapshot.seq if action.snapshot is not None else since
            assert start is not None
            assert seqs(action.events) == list(range(start + 1, action.seq + 1))
            self.start[viewer] = start
            self.seen[viewer] = seqs(action.events)

    def broadcast(self) -> None:
        batch = [e["seq"] for e in self.room.take_batch()]
        for seen in self.seen.values():
            seen += batch

    def end(self) -> None:
        """Redis answers everything, the bus comes back once more, the last batch goes out."""
        while self.reading is not None:
            self.answer()
            self.carry_out()
        self.room.retry_due()
        self.room.receive_resync()
        self.carry_out()
        while self.reading is not None:
            self.answer()
            self.carry_out()
        self.broadcast()


show_steps = st.lists(
    st.one_of(
        st.tuples(st.just("post"), st.sampled_from([0, 1, 1, 1, 2])),
        st.tuples(st.sampled_from(["late", "flush", "resync", "answer", "fail"]), st.just(0)),
        st.tuples(st.just("join"), st.integers(min_value=0, max_value=20)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(show_steps, st.integers(min_value=1, max_value=20))
def test_whatever_arrives_when_every_viewer_sees_each_line_once_in_order(
    steps: list[tuple[str, int]], snapshot_recent: int
) -> None:
    """Lines dropped, repeated and late, joins and resumes at any moment, reads slow or
    failing: each admitted viewer gets every line after where it started, once, in order."""
    show = Show(snapshot_recent)
    for op in steps:
        show.step(op)
    show.end()
    for viewer, seen in show.seen.items():
        assert seen == list(range(show.start[viewer] + 1, show.published + 1)), viewer
    assert set(show.since) - set(show.start) <= show.maybe_refused
