"""A room's outgoing feed on one process: order, gaps and batching, with no I/O.

Events reach a process through Redis pub/sub, which drops messages when its connection
breaks. The feed keeps the last ``seq`` it delivered, drops duplicates, holds events that
arrive after a gap and says which range must be read back from the room's stream, so what
leaves it is always in order and without gaps. Ephemeral events (no ``seq``) only ever show
the latest state, so they are coalesced: the latest ``viewers``, reaction counts summed, the
latest ``sale.stock`` per sale.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

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


def without_deleted(events: list[Event]) -> list[Event]:
    """A catch-up without the chat lines deleted within it: a resume never shows them.

    The ``chat.deleted`` events stay, for clients that saw the line before they dropped.
    """
    deleted = {e["id"] for e in events if e.get("type") == "chat.deleted"}
    if not deleted:
        return events
    return [e for e in events if not (e.get("type") == "chat.message" and e["id"] in deleted)]
