"""Room channels: one per room with viewers on this process; the fan-out lives here.

A channel is a small actor and the I/O driver of its room's ``FeedProtocol`` (feed.py): the
protocol decides (what to read back, who resumes from where, who needs a welcome, when to
restart or retry) and the actor carries its actions out. Its task is the only code that feeds
the protocol and changes its set of connections, so a viewer that joins while events stream
in never sees one twice or misses one. Outgoing events are batched per tick; each batch is
encoded once per subprotocol and written to every socket with ``websockets.broadcast``,
which writes synchronously into each transport without an await per socket. Sockets whose
write buffer passes a bound are cut loose with a resumable close code, so one slow phone
never holds up a room.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from websockets.asyncio.connection import broadcast
from websockets.asyncio.server import ServerConnection

from livecommerce.errors import CloseCode, LiveCommerceError
from livecommerce.events import Event, Outgoing
from livecommerce.realtime.fanout import prepare, write_all
from livecommerce.realtime.feed import (
    Admit,
    FeedProtocol,
    FetchRange,
    FetchSeq,
    FetchSnapshot,
    RaiseSeq,
    Restart,
    ResyncLater,
    without_deleted,
)
from livecommerce.realtime.snapshots import RoomReader, Snapshot
from livecommerce.realtime.wire import Subprotocol, encode, encode_batch
from livecommerce.runtime import metrics

log = logging.getLogger("livecommerce.channels")

DROP_CLOSE_TIMEOUT_S = 5.0
# Checking every socket's buffer is a second pass over the room; a tenth of a second of extra
# backlog before a slow socket is cut is far below any buffer limit worth setting.
SLOW_CHECK_EVERY_S = 0.1
# A broadcast writes at most this many sockets or this long, then lets the loop run: one
# write costs ~15 us on loopback, so a 10,000-viewer room would otherwise hold every other
# socket of the process (a buyer's reserve, too) for 150 ms per batch.
WRITE_SLICE = 1_000
WRITE_TURN_S = 0.005
WRITE_STEP = 32
AMBIENT_EVERY_S = 0.25
# Ambient events cost one frame per member; a big room gets them less often, so that telling
# 10,000 people the units left never takes the loop from the buyers (docs/benchmarks.md).
AMBIENT_FRAMES_PER_S = 8_000
AMBIENT = frozenset({"sale.stock", "viewers", "poll.tally"})


def ambient_every_s(members: int, pace: float = 1.0) -> float:
    """How long a room waits between ambient updates: a few a second, less in a huge room,
    and ``pace`` times less on a hard-pressed process (runtime/shedding.py)."""
    return max(AMBIENT_EVERY_S, members / AMBIENT_FRAMES_PER_S) * pace


async def close_within(conn: ServerConnection, code: int, reason: str, seconds: float) -> None:
    """Close politely, but a peer that stopped reading cannot hold the socket open."""
    try:
        async with asyncio.timeout(seconds):
            await conn.close(code, reason)
    except TimeoutError:
        conn.transport.abort()


@dataclass(slots=True)
class Member:
    """A socket in a room, as the fan-out sees it."""

    conn: ServerConnection
    subprotocol: Subprotocol
    welcome: Callable[[Snapshot], Event] | None = None
    user_id: str | None = None
    viewer: str = ""  # who, for the show's counts: an account, a guest's visitor id, a socket
    audience: bool = False  # the host's own sockets are not


class Observer(Protocol):
    """What else hears of a room's members and events: the show's counts (analytics)."""

    def admitted(self, room_id: str, member: Member, snapshot: Snapshot | None) -> None: ...

    def left(self, room_id: str, member: Member) -> None: ...

    def room_event(self, room_id: str, event: Event) -> None: ...


@dataclass(frozen=True, slots=True)
class JoinResult:
    resumed: bool
    seq: int


@dataclass(slots=True)
class _Join:
    member: Member
    since: int | None
    done: asyncio.Future[JoinResult] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class RoomChannel:
    def __init__(
        self,
        room_id: str,
        store: RoomReader,
        *,
        tick_s: float,
        max_buffer_bytes: int,
        on_empty: Callable[[RoomChannel], None],
        write_slice: int = WRITE_SLICE,
        observer: Observer | None = None,
        pace: Callable[[], float] = lambda: 1.0,
    ) -> None:
        self.room_id = room_id
        self.pace = pace
        self.observer = observer
        self.store = store
        self.tick_s = tick_s
        self.max_buffer_bytes = max_buffer_bytes
        self.protocol: FeedProtocol[_Join, Snapshot] = FeedProtocol()
        self.members: dict[ServerConnection, Member] = {}
        self._by_protocol: dict[Subprotocol, set[ServerConnection]] = {
            p: set() for p in Subprotocol
        }
        self._by_user: dict[str, set[ServerConnection]] = {}
        self._ambient: dict[tuple[str, str], Event] = {}
        self._ambient_handle: asyncio.TimerHandle | None = None
        self._ambient_sent = 0.0
        self._inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._on_empty = on_empty
        self.viewers_reported = -1
        self.joining = 0
        self._joins: list[_Join] = []
        self._last_slow_check = 0.0
        self._writes: deque[tuple[bytes, list[ServerConnection]]] = deque()
        self._write_at = 0
        self._write_handle: asyncio.Handle | None = None
        self.write_slice = write_slice
        self._resync_handle: asyncio.TimerHandle | None = None
        self.task = asyncio.create_task(self._run(), name=f"room-{room_id}")

    # Called from anywhere on the loop ------------------------------------------------

    def deliver(self, seq: int | None, event: Event) -> None:
        self._inbox.put_nowait(("event", event) if seq is not None else ("ephemeral", event))

    def deliver_local(self, event: Outgoing | Event) -> None:
        """An event made on this process for this process's sockets only (never replayed)."""
        self._inbox.put_nowait(("ephemeral", dict(event)))

    def resync(self) -> None:
        self._inbox.put_nowait(("resync", None))

    async def join(self, member: Member, since: int | None) -> JoinResult:
        request = _Join(member, since)
        self.joining += 1
        try:
            if not self._joins:
                self._inbox.put_nowait(("joins", None))
            self._joins.append(request)
            return await request.done
        finally:
            self.joining -= 1

    def leave(self, conn: ServerConnection) -> None:
        self._forget(conn)
        if not self.members:
            self._on_empty(self)

    def close(self) -> None:
        self.task.cancel()
        for handle in (
            self._flush_handle,
            self._ambient_handle,
            self._write_handle,
            self._resync_handle,
        ):
            if handle is not None:
                handle.cancel()

    # The actor -----------------------------------------------------------------------

    async def _run(self) -> None:
        protocol = self.protocol
        while True:
            kind, item = await self._inbox.get()
            joins: Sequence[_Join] = ()  # a constant: nothing allocated per event
            try:
                if kind == "event":
                    protocol.receive_event(item)
                    if self.observer is not None:
                        self.observer.room_event(self.room_id, item)
                elif kind == "ephemeral":
                    self._ephemeral(item)
                elif kind == "joins":
                    joins, self._joins = self._joins, []
                    protocol.receive_joins([(join, join.since) for join in joins])
                elif kind == "resync":
                    protocol.receive_resync()
            except Exception as exc:  # keep the room alive whatever one step does
                self._failed(kind, exc, joins)
            if protocol.actions:
                await self._act(kind, joins)
            self._schedule_flush()

    async def _act(self, kind: str, joins: Sequence[_Join]) -> None:
        """Carry out the protocol's actions in order, answering each read before the next."""
        protocol = self.protocol
        while (action := protocol.next_action()) is not None:
            try:
                if isinstance(action, FetchRange):
                    events = await self.store.events_after(self.room_id, action.after, action.until)
                    if action.gap and events is not None:
                        metrics.GAPS_FILLED.inc()
                    protocol.receive_range(events)
                elif isinstance(action, Admit):
                    after = await self.store.anonymised(action.events)
                    for join in action.joins:
                        self._admit(join, after, action.snapshot, action.seq)
                elif isinstance(action, FetchSnapshot):
                    protocol.receive_snapshot(await self.store.snapshot(self.room_id))
                elif isinstance(action, FetchSeq):
                    protocol.receive_seq(await self.store.current_seq(self.room_id))
                elif isinstance(action, RaiseSeq):
                    await self.store.raise_seq(self.room_id, action.delivered)
                elif isinstance(action, Restart):
                    self._restart_all()
                elif isinstance(action, ResyncLater):
                    self._retry_resync(action.delay)
            except Exception as exc:  # keep the room alive whatever one step does
                self._failed(kind, exc, joins)

    def _failed(self, kind: str, exc: Exception, joins: Sequence[_Join]) -> None:
        """Joiners of the failed step are refused; the protocol reads back later."""
        if not isinstance(exc, LiveCommerceError):
            log.exception("room %s: failed to handle %s", self.room_id, kind, exc_info=exc)
        elif not self.protocol.retrying:  # once per outage, not per retry
            log.warning("room %s: %s while handling %s", self.room_id, exc.code, kind)
        for join in joins:
            if not join.done.done():
                join.done.set_exception(exc)
        self.protocol.receive_failure()

    def _retry_resync(self, delay: float) -> None:
        """Read back what this process missed later, whether or not another event comes.

        A gap is otherwise only noticed when the next event arrives; in a room gone quiet
        after an outage, the line that pub/sub dropped would wait for it indefinitely.
        """
        self._resync_handle = asyncio.get_running_loop().call_later(delay, self._resync_due)

    def _resync_due(self) -> None:
        self._resync_handle = None
        self.protocol.retry_due()
        self.resync()

    def _ephemeral(self, event: Event) -> None:
        """Private events go to their person now; ambient state is paced; the rest is batched."""
        to = event.get("to")
        if to is not None:
            conns = self._by_user.get(to)
            if conns:
                private = {k: v for k, v in event.items() if k != "to"}
                for protocol in Subprotocol:
                    mine = [c for c in conns if self.members[c].subprotocol is protocol]
                    if mine:
                        text = protocol is Subprotocol.JSON
                        broadcast(mine, encode(protocol, private), text=text)
            return
        kind = event["type"]
        if kind in AMBIENT:
            self._ambient[(kind, event.get("sale_id", ""))] = event
            if self._ambient_handle is None:
                loop = asyncio.get_running_loop()
                delay = max(
                    0.0,
                    self._ambient_sent
                    + ambient_every_s(len(self.members), self.pace())
                    - loop.time(),
                )
                self._ambient_handle = loop.call_later(delay, self._release_ambient)
            return
        self.protocol.receive_ephemeral(event)

    def _release_ambient(self) -> None:
        """The latest of each ambient value, together: one frame, whatever the processes."""
        self._ambient_handle = None
        self._ambient_sent = asyncio.get_running_loop().time()
        ambient, self._ambient = self._ambient, {}
        for event in ambient.values():
            self.protocol.receive_ephemeral(event)
        self._schedule_flush()

    def _restart_all(self) -> None:
        log.warning("room %s: history no longer reaches back; members restart", self.room_id)
        for conn in list(self.members):
            self._drop(conn, CloseCode.RECONNECT, "history gap; reconnect")

    def _admit(self, join: _Join, after: list[Event], snapshot: Snapshot | None, seq: int) -> None:
        """The member's catch-up and its place in the broadcast set, as one step.

        Nothing here awaits, and the pending batch goes to the others first, so no event is
        lost or doubled between the catch-up and the first broadcast the member is part of.
        """
        self._flush()
        member = join.member
        text = member.subprotocol is Subprotocol.JSON
        if snapshot is not None:
            assert member.welcome is not None
            welcome = member.welcome(snapshot)
            broadcast([member.conn], encode(member.subprotocol, welcome), text=text)
        after = without_deleted(after)
        if after:
            broadcast([member.conn], encode_batch(member.subprotocol, after), text=text)
        self.members[member.conn] = member
        self._by_protocol[member.subprotocol].add(member.conn)
        if member.user_id is not None:
            self._by_user.setdefault(member.user_id, set()).add(member.conn)
        metrics.ROOM_MEMBERS.inc()
        if self.observer is not None:
            self.observer.admitted(self.room_id, member, snapshot)
        join.done.set_result(JoinResult(resumed=snapshot is None, seq=seq))

    # Fan-out -------------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        """The first event of a batch waits one tick for company.

        Flushing a lone event at once after a quiet tick was measured: 40 % more frames at
        100 messages/s to 2,000 viewers, and the clients fell seconds behind. Frames cost the
        phones as much as the server, so batches start on the trailing edge.
        """
        if self._flush_handle is not None or not self.protocol.has_output():
            return
        loop = asyncio.get_running_loop()
        self._flush_handle = loop.call_later(self.tick_s, self._flush)

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self.protocol.has_output():
            return
        now = asyncio.get_running_loop().time()
        batch = self.protocol.take_batch()
        if not self.members:
            return
        started = time.perf_counter()
        check_slow = now - self._last_slow_check >= SLOW_CHECK_EVERY_S
        if check_slow:
            self._last_slow_check = now
        for protocol, conns in self._by_protocol.items():
            if not conns:
                continue
            if check_slow:
                self._drop_slow(conns)
            frame = prepare(encode_batch(protocol, batch), text=protocol is Subprotocol.JSON)
            self._writes.append((frame, list(conns)))
            metrics.EVENTS_DELIVERED.inc(len(conns) * len(batch))
        metrics.BATCHES.inc()
        self._write_slice()
        metrics.FLUSH_SECONDS.observe(time.perf_counter() - started)

    def _write_slice(self, budget: int = 0, seconds: float = WRITE_TURN_S) -> None:
        """Write queued frames for at most ``write_slice`` sockets or ``seconds``, then yield.

        A buyer's reserve needs several turns of the loop (read, script call, answer), so a
        broadcast that held each turn for long would add its time to every one of them.
        Batches queue behind each other, so every socket still gets them in order; a member
        admitted meanwhile is in no queued list and has the events in its own catch-up.
        """
        self._write_handle = None
        budget = budget or self.write_slice
        deadline = time.perf_counter() + seconds
        writes = self._writes
        while writes and budget > 0:
            frame, conns = writes[0]
            end = min(self._write_at + budget, self._write_at + WRITE_STEP, len(conns))
            metrics.FRAMES_SENT.inc(write_all(conns[self._write_at : end], frame))
            budget -= end - self._write_at
            if end == len(conns):
                writes.popleft()
                self._write_at = 0
            else:
                self._write_at = end
            if time.perf_counter() > deadline:
                break
        if writes:
            self._write_handle = asyncio.get_running_loop().call_soon(self._write_slice)

    def _write_everything(self) -> None:
        if self._write_handle is not None:
            self._write_handle.cancel()
        self._write_slice(sys.maxsize, float("inf"))

    def _drop_slow(self, conns: set[ServerConnection]) -> None:
        limit = self.max_buffer_bytes
        slow = [c for c in conns if c.transport.get_write_buffer_size() > limit]
        for conn in slow:
            metrics.SLOW_CONSUMERS.inc()
            self._drop(conn, CloseCode.SLOW_CONSUMER, "slow consumer; resume with since")

    def _forget(self, conn: ServerConnection) -> None:
        member = self.members.pop(conn, None)
        if member is None:
            return
        if self.observer is not None:
            self.observer.left(self.room_id, member)
        self._by_protocol[member.subprotocol].discard(conn)
        if member.user_id is not None:
            mine = self._by_user.get(member.user_id)
            if mine is not None:
                mine.discard(conn)
                if not mine:
                    del self._by_user[member.user_id]
        metrics.ROOM_MEMBERS.dec()

    def _drop(self, conn: ServerConnection, code: int, reason: str) -> None:
        self._forget(conn)
        task = asyncio.create_task(close_within(conn, code, reason, DROP_CLOSE_TIMEOUT_S))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    def send_all(self, event: Event) -> None:
        """Write one message to every member now (shutdown notices, outages)."""
        self._write_everything()
        for protocol, conns in self._by_protocol.items():
            if conns:
                broadcast(conns, encode(protocol, event), text=protocol is Subprotocol.JSON)


class Channels:
    """The channels of this process, and the link between them and the bus."""

    def __init__(
        self,
        store: RoomReader,
        *,
        tick_s: float,
        max_buffer_bytes: int,
        linger_s: float = 30.0,
        write_slice: int = WRITE_SLICE,
        subscribe: Callable[[str], Any],
        unsubscribe: Callable[[str], Any],
        observer: Observer | None = None,
        pace: Callable[[], float] = lambda: 1.0,
    ) -> None:
        self.store = store
        self.pace = pace
        self.observer = observer
        self.tick_s = tick_s
        self.max_buffer_bytes = max_buffer_bytes
        self.linger_s = linger_s
        self.write_slice = write_slice
        self._subscribe = subscribe
        self._unsubscribe = unsubscribe
        self.rooms: dict[str, RoomChannel] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._reapers: dict[str, asyncio.TimerHandle] = {}

    async def get(self, room_id: str) -> RoomChannel:
        """The room's channel, subscribed on the bus before anyone reads a snapshot."""
        channel = self.rooms.get(room_id)
        if channel is not None:
            self._cancel_reaper(room_id)
            return channel
        lock = self._locks.setdefault(room_id, asyncio.Lock())
        async with lock:
            channel = self.rooms.get(room_id)
            if channel is None:
                channel = RoomChannel(
                    room_id,
                    self.store,
                    tick_s=self.tick_s,
                    max_buffer_bytes=self.max_buffer_bytes,
                    on_empty=self._schedule_reap,
                    write_slice=self.write_slice,
                    observer=self.observer,
                    pace=self.pace,
                )
                self.rooms[room_id] = channel
                metrics.ROOMS.set(len(self.rooms))
                try:
                    await self._subscribe(room_id)
                except BaseException:
                    self._remove(room_id)
                    raise
        self._locks.pop(room_id, None)
        self._cancel_reaper(room_id)
        return channel

    def dispatch(self, room_id: str, seq: int | None, event: Event) -> None:
        channel = self.rooms.get(room_id)
        if channel is not None:
            channel.deliver(seq, event)

    def _schedule_reap(self, channel: RoomChannel) -> None:
        if channel.room_id in self._reapers:
            return
        loop = asyncio.get_running_loop()
        self._reapers[channel.room_id] = loop.call_later(
            self.linger_s, lambda: self._reap(channel.room_id)
        )

    def _cancel_reaper(self, room_id: str) -> None:
        handle = self._reapers.pop(room_id, None)
        if handle is not None:
            handle.cancel()

    def _reap(self, room_id: str) -> None:
        self._reapers.pop(room_id, None)
        channel = self.rooms.get(room_id)
        if channel is None or channel.members or channel.joining:
            return
        self._remove(room_id)
        task = asyncio.ensure_future(self._unsubscribe(room_id))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    def _remove(self, room_id: str) -> None:
        channel = self.rooms.pop(room_id, None)
        if channel is not None:
            channel.close()
        metrics.ROOMS.set(len(self.rooms))

    def close(self) -> None:
        for room_id in list(self.rooms):
            self._cancel_reaper(room_id)
            self._remove(room_id)

    def members(self) -> int:
        return sum(len(c.members) for c in self.rooms.values())
