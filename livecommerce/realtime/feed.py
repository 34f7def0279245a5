"""A room's outgoing feed on one process: order, gaps, joins and batching, with no I/O.

Events reach a process through Redis pub/sub, which drops messages when its connection
breaks. The feed keeps the last ``seq`` it delivered, drops duplicates, holds events that
arrive after a gap and says which range must be read back from the room's stream, so what
leaves it is always in order and without gaps. Ephemeral events (no ``seq``) only ever show
the latest state, so they are coalesced: the latest ``viewers``, reaction counts summed, the
latest ``sale.stock`` per sale.

``FeedProtocol`` makes every decision about the room's order, as websockets' ``Protocol``
does for a connection: what happens goes in (an event from the bus, a batch of joins, the
answer to a read, the bus coming back), actions come out as plain data (read this range,
the current seq or a snapshot; admit these joiners with this catch-up; restart everyone;
read back later), and ``channels.RoomChannel`` only carries them out.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeAlias, TypeVar

from livecommerce.chat.reactions import merge_counts
from livecommerce.events import Event


@dataclass(frozen=True, slots=True)
class Gap:
    """Events with ``after < seq < before`` are missing and must be read back."""

    after: int
    before: int


class RoomFeed:
    def __init__(self, recent_size: int = 512) -> None:
        self.last_seq: int | None = None
        self.pending: list[Event] = []
        self.recent: deque[Event] = deque(maxlen=recent_size)
        self._held: dict[int, Event] = {}
        self._ephemeral: dict[str, Event] = {}

    @property
    def started(self) -> bool:
        return self.last_seq is not None

    def start(self, seq: int) -> None:
        """Begin at ``seq``: everything up to it is already in a snapshot somebody has."""
        self.last_seq = seq

    def offer(self, event: Event) -> Gap | None:
        """Take one sequenced event; a returned gap must be filled before it goes out."""
        seq: int = event["seq"]
        if self.last_seq is None or seq <= self.last_seq:
            return None
        if seq == self.last_seq + 1 and not self._held:
            self._accept(event)
            return None
        self._held[seq] = event
        return Gap(self.last_seq, min(self._held))

    def fill(self, events: list[Event]) -> None:
        """Accept events read back from the stream, then whatever was held behind them."""
        for event in events:
            if self.last_seq is not None and event["seq"] == self.last_seq + 1:
                self._accept(event)
        while self.last_seq is not None and self.last_seq + 1 in self._held:
            self._accept(self._held.pop(self.last_seq + 1))
        if self.last_seq is not None:
            for seq in [s for s in self._held if s <= self.last_seq]:
                del self._held[seq]

    @property
    def gap(self) -> Gap | None:
        if not self._held or self.last_seq is None:
            return None
        return Gap(self.last_seq, min(self._held))

    def _accept(self, event: Event) -> None:
        self.last_seq = event["seq"]
        self.pending.append(event)
        self.recent.append(event)

    def offer_ephemeral(self, event: Event) -> None:
        kind = event["type"]
        key = kind
        if kind == "sale.stock":
            key = f"sale.stock:{event.get('sale_id')}"
        elif kind == "reactions":
            previous = self._ephemeral.get(key)
            if previous is not None:
                merge_counts(previous["counts"], event["counts"])
                return
            event = {"type": "reactions", "counts": dict(event["counts"])}
        self._ephemeral.pop(key, None)
        self._ephemeral[key] = event

    def take_batch(self) -> list[Event]:
        """What to send now: sequenced events in order, then the latest ephemeral state."""
        batch = self.pending
        if self._ephemeral:
            batch = batch + list(self._ephemeral.values())
            self._ephemeral = {}
        self.pending = []
        return batch

    def has_output(self) -> bool:
        return bool(self.pending or self._ephemeral)

    def recent_after(self, seq: int) -> list[Event] | None:
        """Recent events after ``seq`` from memory, or None when memory does not reach back."""
        if self.last_seq is None or seq >= self.last_seq:
            return []
        if not self.recent or self.recent[0]["seq"] > seq + 1:
            return None
        return [event for event in self.recent if event["seq"] > seq]


# The room's order as a protocol --------------------------------------------------------

J = TypeVar("J")
S = TypeVar("S", bound="History")

# A read-back that failed is tried again after this, doubling up to the cap: the first
# command after Valkey restarts can fail on a pooled connection even though Valkey is back.
RETRY_S = 0.05
RETRY_MAX_S = 2.0


class History(Protocol):
    """What the protocol reads of a snapshot; the rest is the driver's, for the welcome."""

    @property
    def seq(self) -> int: ...

    @property
    def recent(self) -> list[Event]: ...


@dataclass(frozen=True, slots=True)
class FetchRange:
    """Read ``after < seq <= until`` from the room's stream; answer ``receive_range``.

    ``gap`` says the range is what pub/sub dropped (counted by the driver).
    """

    after: int
    until: int
    gap: bool = False


@dataclass(frozen=True, slots=True)
class FetchSeq:
    """Read the room's current seq; answer ``receive_seq``."""


@dataclass(frozen=True, slots=True)
class FetchSnapshot:
    """Read a snapshot of the room; answer ``receive_snapshot``."""


@dataclass(frozen=True, slots=True)
class Admit(Generic[J, S]):
    """Send the pending batch to the members, then give each joiner its catch-up.

    A joiner gets a welcome built from ``snapshot`` first when there is one (a fresh start),
    then ``events``, and joins the broadcast set in the same step; ``seq`` is where it stands.
    """

    joins: list[J]
    events: list[Event]
    snapshot: S | None
    seq: int


@dataclass(frozen=True, slots=True)
class Restart:
    """The history no longer reaches back: every member must reconnect and start afresh."""


@dataclass(frozen=True, slots=True)
class RaiseSeq:
    """The room's seq went back below what this process delivered (a failover lost the
    primary's last writes): lift it to ``delivered`` so no seq is given twice; no answer."""

    delivered: int


@dataclass(frozen=True, slots=True)
class ResyncLater:
    """Call ``retry_due`` and then ``receive_resync`` after ``delay`` seconds."""

    delay: float


Action: TypeAlias = (
    FetchRange | FetchSeq | FetchSnapshot | Admit[J, S] | Restart | RaiseSeq | ResyncLater
)


class _Wait(enum.Enum):
    """Which answer the protocol waits for, and what it is for."""

    GAP = enum.auto()
    RESYNC_SEQ = enum.auto()
    RESYNC_RANGE = enum.auto()
    RESUME_SEQ = enum.auto()
    RESUME_RANGE = enum.auto()
    SNAPSHOT = enum.auto()
    CATCH_UP = enum.auto()
    TAIL = enum.auto()
    ADMIT = enum.auto()  # until the driver asks for the action after an Admit


class FeedProtocol(Generic[J, S]):
    """The room's order on one process, sans I/O: inputs in, ``actions`` out.

    The driver takes the actions from ``next_action`` and carries each out before it asks
    for the next: a read is answered by its ``receive_*`` call, an ``Admit`` is done. Until
    then nothing else is asked for, and events, joins and resyncs that arrive meanwhile wait
    here, so a catch-up never misses what came in while it was read or written. A joiner
    (``J``) is the driver's own token; the protocol only hands it back in ``Admit``.
    """

    def __init__(self, recent_size: int = 512) -> None:
        self.feed = RoomFeed(recent_size)
        self.actions: deque[Action[J, S]] = deque()
        self._recent_size = recent_size
        self._wait: _Wait | None = None
        self._joins: deque[tuple[J, int | None]] = deque()
        self._fresh: list[J] = []
        self._snapshot: S | None = None
        self._later_events: deque[Event] = deque()
        self._later_joins: list[tuple[J, int | None]] = []
        self._later_resync = False
        self._retry_delay = RETRY_S
        self._retry_pending = False

    @property
    def retrying(self) -> bool:
        """A read failed since the last successful resync (an outage, not a blip)."""
        return self._retry_delay != RETRY_S

    # Inputs ----------------------------------------------------------------------------

    def receive_event(self, event: Event) -> None:
        """An event with a ``seq`` from the bus, in whatever order pub/sub brought it."""
        if self._wait is None:
            gap = self.feed.offer(event)
            if gap is not None:
                self._read_gap(gap)
        else:
            self._later_events.append(event)

    def receive_ephemeral(self, event: Event) -> None:
        """State without a ``seq`` (viewers, reactions, stock): order does not apply."""
        self.feed.offer_ephemeral(event)

    def receive_joins(self, joins: Iterable[tuple[J, int | None]]) -> None:
        """Joiners, each with the ``since`` it resumes from or None for a fresh start.

        A batch is served together: resumes one by one, fresh starts with one snapshot, so a
        show's opening rush costs one read for everyone queued behind it.
        """
        if self._wait is not None:
            self._later_joins.extend(joins)
            return
        self._joins.extend(joins)
        self._serve_joins()
        self._settle()

    def receive_resync(self) -> None:
        """The bus is back (or a retry is due): read back whatever this process missed."""
        if self._wait is not None:
            self._later_resync = True
            return
        self._resync()
        self._settle()

    def retry_due(self) -> None:
        """The timer of a ``ResyncLater`` fired; a later failure may set another."""
        self._retry_pending = False

    def receive_seq(self, seq: int) -> None:
        """The room's current seq, read for a ``FetchSeq``."""
        wait = self._answered(_Wait.RESYNC_SEQ, _Wait.RESUME_SEQ)
        if wait is _Wait.RESUME_SEQ:
            if not self.feed.started:
                self.feed.start(seq)
            self._serve_joins()
        elif self.feed.last_seq is not None and seq > self.feed.last_seq:
            self._read(_Wait.RESYNC_RANGE, FetchRange(self.feed.last_seq, seq))
        elif self.feed.last_seq is not None and seq < self.feed.last_seq:
            # Events this process delivered are gone from the store: members start afresh,
            # and new events get seqs none of them has seen.
            self.actions.append(RaiseSeq(self.feed.last_seq))
            self._restart()
            self._resynced()
        else:
            self._resynced()
        self._settle()

    def receive_range(self, events: list[Event] | None) -> None:
        """The events read for a ``FetchRange``, or None when the stream no longer has them."""
        wait = self._answered(
            _Wait.GAP, _Wait.RESYNC_RANGE, _Wait.RESUME_RANGE, _Wait.CATCH_UP, _Wait.TAIL
        )
        if wait is _Wait.GAP:
            if events is None:
                self._restart()
            else:
                self.feed.fill(events)
                gap = self.feed.gap
                if gap is not None:
                    self._read_gap(gap)
        elif wait is _Wait.RESYNC_RANGE:
            if events is None:
                self._restart()
            else:
                self.feed.fill(events)
            self._resynced()
        elif wait is _Wait.RESUME_RANGE:
            token, _ = self._joins.popleft()
            if events is None:
                self._fresh.append(token)
                self._serve_joins()
            else:
                self._admit([token], events, None)
        elif wait is _Wait.CATCH_UP:
            assert self._snapshot is not None
            if events is None:
                self._restart()
                self.feed.start(self._snapshot.seq)
            else:
                self.feed.fill(events)
            self._tail()
        else:
            self._welcome(events or [])
        self._settle()

    def receive_snapshot(self, snapshot: S) -> None:
        """The snapshot the fresh joiners of this batch start from."""
        self._answered(_Wait.SNAPSHOT)
        self._snapshot = snapshot
        last = self.feed.last_seq
        if last is None:
            self.feed.start(snapshot.seq)
        elif snapshot.seq > last:
            self.feed.fill([e for e in snapshot.recent if e["seq"] > last])
            last = self.feed.last_seq or 0
            if snapshot.seq > last:
                self._read(_Wait.CATCH_UP, FetchRange(last, snapshot.seq))
                return
        self._tail()
        self._settle()

    def receive_failure(self) -> None:
        """A read or an action failed (Redis away): drop the joins under way, retry later.

        The driver refuses those joiners itself. What this process missed meanwhile is read
        back on a timer, because in a room gone quiet no next event would reveal the gap.
        """
        self.actions.clear()
        self._wait = None
        self._joins.clear()
        self._fresh = []
        self._snapshot = None
        if not self._retry_pending and self.feed.started:
            self._retry_pending = True
            delay, self._retry_delay = self._retry_delay, min(self._retry_delay * 2, RETRY_MAX_S)
            self.actions.append(ResyncLater(delay))
        self._settle()

    # Outputs ---------------------------------------------------------------------------

    def next_action(self) -> Action[J, S] | None:
        """The next thing to do, once the one before it is done; None when there is none.

        Asking again after an ``Admit`` says it was carried out: only then do the joins after
        it and what arrived meanwhile go on, so no line goes into a batch the joiner is not
        part of yet and is missing from its catch-up too.
        """
        if not self.actions:
            if self._wait is not _Wait.ADMIT:
                return None
            self._wait = None
            self._serve_joins()
            self._settle()
            if not self.actions:
                return None
        return self.actions.popleft()

    def take_batch(self) -> list[Event]:
        return self.feed.take_batch()

    def has_output(self) -> bool:
        return self.feed.has_output()

    # Decisions -------------------------------------------------------------------------

    def _read(self, wait: _Wait, action: FetchRange | FetchSeq | FetchSnapshot) -> None:
        self._wait = wait
        self.actions.append(action)

    def _answered(self, *expected: _Wait) -> _Wait:
        wait, self._wait = self._wait, None
        if wait not in expected:
            raise RuntimeError(f"answer for {expected}, but waiting for {wait}")
        assert wait is not None
        return wait

    def _read_gap(self, gap: Gap) -> None:
        self._read(_Wait.GAP, FetchRange(gap.after, gap.before - 1, gap=True))

    def _restart(self) -> None:
        self.actions.append(Restart())
        self.feed = RoomFeed(self._recent_size)

    def _resync(self) -> None:
        if self.feed.started:
            self._read(_Wait.RESYNC_SEQ, FetchSeq())
        else:
            self._resynced()

    def _resynced(self) -> None:
        self._retry_delay = RETRY_S

    def _serve_joins(self) -> None:
        """Resumes from memory or the stream; who cannot resume waits for the snapshot."""
        joins = self._joins
        while joins:
            token, since = joins[0]
            if since is None:
                joins.popleft()
                self._fresh.append(token)
                continue
            last = self.feed.last_seq
            if last is None:
                self._read(_Wait.RESUME_SEQ, FetchSeq())
                return
            if since > last:
                joins.popleft()
                self._fresh.append(token)
                continue
            found = self.feed.recent_after(since)
            if found is None:
                self._read(_Wait.RESUME_RANGE, FetchRange(since, last))
                return
            joins.popleft()
            self._admit([token], found, None)
            return
        if self._fresh:
            self._read(_Wait.SNAPSHOT, FetchSnapshot())

    def _tail(self) -> None:
        """What happened after the snapshot, from memory or else from the stream."""
        assert self._snapshot is not None
        after = self.feed.recent_after(self._snapshot.seq)
        if after is None:
            self._read(_Wait.TAIL, FetchRange(self._snapshot.seq, self.feed.last_seq or 0))
        else:
            self._welcome(after)

    def _welcome(self, after: list[Event]) -> None:
        fresh, self._fresh = self._fresh, []
        snapshot, self._snapshot = self._snapshot, None
        self._admit(fresh, after, snapshot)

    def _admit(self, joins: list[J], events: list[Event], snapshot: S | None) -> None:
        """Nothing more happens until the driver has carried it out (see ``next_action``)."""
        self._wait = _Wait.ADMIT
        self.actions.append(Admit(joins, events, snapshot, self.feed.last_seq or 0))

    def _settle(self) -> None:
        """Once nothing is awaited, take what arrived while something was."""
        while self._wait is None:
            if self._later_events:
                self.receive_event(self._later_events.popleft())
            elif self._later_resync:
                self._later_resync = False
                self._resync()
            elif self._later_joins:
                self._joins.extend(self._later_joins)
                self._later_joins = []
                self._serve_joins()
            else:
                return


def without_deleted(events: list[Event]) -> list[Event]:
    """A catch-up without the chat lines deleted within it: a resume never shows them.

    The ``chat.deleted`` events stay, for clients that saw the line before they dropped.
    """
    deleted = {e["id"] for e in events if e.get("type") == "chat.deleted"}
    if not deleted:
        return events
    return [e for e in events if not (e.get("type") == "chat.message" and e["id"] in deleted)]
