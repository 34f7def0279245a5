"""The bus between processes: room events over sharded pub/sub, one connection per node.

Each room a process has viewers for is one shard channel (``SSUBSCRIBE``) in the room's own
hash slot, so the script that writes a room event to the room's stream publishes it
(``SPUBLISH``) in the same atomic step, on a single Valkey as on a cluster. On a cluster a
channel lives on the primary that owns its slot. The partitions are the cluster's 16,384
slots, a fixed number, and the bus keeps one link (one pub/sub connection) per primary that
owns any it needs, however many rooms: Centrifugo's engine does the same in its node-grouped
mode (its partitions' connections grouped by node). Partitioning channels by a tag of their
own, as Centrifugo's default mode does, would split a room's channel from its keys, and the
publish from the room's script. Sign-outs travel on one broadcast channel (``on_revoked``)
that any node relays.

Subscribing waits for Redis to confirm, because a snapshot read before the subscription is
live could miss an event published in between. A link that breaks tells its rooms
(``on_down``), reconnects with backoff (on a cluster to whichever primary now owns each
channel's slot: after a failover, the promoted replica) and, once Redis has confirmed every
subscription again, asks those rooms to read back what they missed (``on_up``). A slot that
migrates takes its channels with it: the old owner unsubscribes us, and the bus subscribes
at the new owner and has the room read back, so no event is lost; the room's seq drops any
it already had.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster

from livecommerce.errors import Unavailable
from livecommerce.runtime import metrics
from livecommerce.runtime.lifecycle import stop_task
from livecommerce.store import keys
from livecommerce.store.connection import STORE_DOWN, as_text
from livecommerce.store.history import parse_envelope

log = logging.getLogger("livecommerce.bus")

_REVOCATIONS = keys.revocations_channel()
FOLLOW_ATTEMPTS = 40  # about 15 s for a moved slot's new owner to be known
_LINK_DOWN = (*STORE_DOWN, redis_errors.ResponseError)
Handler = Callable[[str, int | None, dict[str, Any]], None]
Rooms = Callable[[list[str]], None]


def _room_of(channel: str) -> str:
    return keys.room_of_channel(channel)


class _Link:
    """One pub/sub connection to one node and the channels the bus wants from it."""

    def __init__(self, bus: Bus, name: str, client: Redis, *, owned: bool) -> None:
        self.bus = bus
        self.name = name
        self.client = client
        self.owned = owned  # a client of our own (cluster), closed with the link
        self.channels: set[str] = set()
        self.revocations = False
        self.pubsub: PubSub | None = None
        self.connected = asyncio.Event()
        self.up = False
        self.task: asyncio.Task[None] | None = None
        self.retired = False
        self._reread: set[str] = set()  # confirmed here after a move: read back then

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"bus-link-{self.name}")

    async def stop(self) -> None:
        self.retired = True
        await stop_task(self.task)
        await self._close()
        if self.owned:
            with contextlib.suppress(*STORE_DOWN):
                await self.client.aclose()

    async def _close(self) -> None:
        pubsub, self.pubsub = self.pubsub, None
        if pubsub is None:
            return
        # A pub/sub cancelled in the middle of a command can wait forever on its own
        # connection's lock; closing is best effort, bounded.
        try:
            async with asyncio.timeout(2):
                await pubsub.aclose()
        except (TimeoutError, *STORE_DOWN):
            if pubsub.connection is not None:
                await pubsub.connection.disconnect(nowait=True)

    async def add(self, channel: str, *, moved: bool = False) -> None:
        self.channels.add(channel)
        if moved:
            self._reread.add(channel)
        if self.pubsub is not None and self.up:
            await self.pubsub.ssubscribe(channel)

    async def drop(self, channel: str) -> None:
        self.channels.discard(channel)
        self._reread.discard(channel)
        if self.pubsub is not None and self.up:
            with contextlib.suppress(*_LINK_DOWN):
                await self.pubsub.sunsubscribe(channel)

    async def _run(self) -> None:
        delay = 0.05
        # redis-py can turn a cancellation in the middle of a read into a connection error;
        # the flag makes sure a stopping bus does not take that for an outage and retry.
        while not (self.bus.stopping or self.retired):
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except _LINK_DOWN as exc:
                log.warning("bus link %s lost: %s", self.name, exc)
            except Exception:
                log.exception("bus link %s failed", self.name)
            self.connected.clear()
            for channel in self.channels:
                self.bus.unconfirm(channel)
            if self.up:
                self.up = False
                delay = 0.05  # the first retry of an outage comes quickly, as the first did
                metrics.STORE_UNAVAILABLE.inc()
                self.bus.on_down(sorted(_room_of(c) for c in self.channels))
            if self.bus.stopping or self.retired:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
            await self.bus.rehome(self)

    async def _session(self) -> None:
        await self._close()
        pubsub = self.pubsub = self.client.pubsub()
        await pubsub.ping()  # forces the connection before we claim to be up
        self.up = True  # from here a channel added is subscribed at once
        waiting = set(self.channels)
        revocations = self.revocations
        if revocations:
            await pubsub.subscribe(_REVOCATIONS)
        # One SSUBSCRIBE per channel: a node refuses channels of different slots together.
        for channel in sorted(waiting):
            await pubsub.ssubscribe(channel)
        self.connected.set()
        if not waiting and not revocations:
            self.bus.on_up([])
        task = asyncio.current_task()
        while not (self.bus.stopping or self.retired):
            if task is not None and task.cancelling():
                raise asyncio.CancelledError
            message = await pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            kind = as_text(message["type"])
            channel = as_text(message["channel"])
            if kind == "smessage":
                self.bus.dispatch(channel, message["data"])
            elif kind == "message" and channel == _REVOCATIONS:
                self.bus.on_revoked(bytes(message["data"]).decode("ascii", "replace"))
            elif kind == "ssubscribe":
                self.bus.confirm(channel)
                if channel in self._reread:
                    self._reread.discard(channel)
                    self.bus.on_up([_room_of(channel)])
                if channel in waiting:
                    waiting.discard(channel)
                    if not waiting and not revocations:
                        self.bus.on_up(sorted(_room_of(c) for c in self.channels))
            elif kind == "subscribe" and channel == _REVOCATIONS:
                revocations = False
                self.bus.on_revocations_up()
                if not waiting:
                    self.bus.on_up(sorted(_room_of(c) for c in self.channels))
            elif kind == "sunsubscribe" and channel in self.channels:
                # Not asked for: the channel's slot left this node (a migration or a
                # failover). It is heard again wherever the slot went.
                self.bus.unconfirm(channel)
                self.bus.displaced(self, channel)


class Bus:
    def __init__(
        self,
        client: Redis,
        on_event: Handler,
        on_down: Rooms,
        on_up: Rooms,
        *,
        on_revoked: Callable[[str], None] = lambda session: None,
        on_revocations_up: Callable[[], None] = lambda: None,
        confirm_timeout_s: float = 5.0,
    ) -> None:
        self._client = client
        self._cluster: RedisCluster | None = client if isinstance(client, RedisCluster) else None
        self._on_event = on_event
        self.on_revoked = on_revoked
        self.on_revocations_up = on_revocations_up
        self.on_down = on_down
        self.on_up = on_up
        self._confirm_timeout_s = confirm_timeout_s
        self._holders: dict[str, int] = {}  # the room's channels and the media plane share
        self._confirmed: dict[str, asyncio.Event] = {}
        self._links: dict[str, _Link] = {}
        self._home: dict[str, _Link] = {}
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self.stopping = False
        self.started = asyncio.Event()  # the first link (sign-outs' broadcast) exists

    @property
    def up(self) -> bool:
        return bool(self._links) and all(link.up for link in self._links.values())

    @property
    def links(self) -> int:
        return len(self._links)

    def start(self) -> None:
        task = asyncio.create_task(self._start(), name="bus-start")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _start(self) -> None:
        async with self._lock:
            link = await self._link_for(_REVOCATIONS, retry=True)
            if link is not None:
                link.revocations = True
                self._home[_REVOCATIONS] = link
                if link.up and link.pubsub is not None:
                    await link.pubsub.subscribe(_REVOCATIONS)
        self.started.set()

    async def stop(self) -> None:
        self.stopping = True
        for task in list(self._background):
            await stop_task(task)
        for link in list(self._links.values()):
            await link.stop()
        self._links.clear()

    async def subscribe(self, room_id: str) -> None:
        """Hear a room's events; each subscribe is undone by one unsubscribe."""
        channel = keys.room_channel(room_id)
        self._holders[channel] = self._holders.get(channel, 0) + 1
        confirmed = self._confirmed.setdefault(channel, asyncio.Event())
        try:
            async with asyncio.timeout(self._confirm_timeout_s):
                fresh = None
                async with self._lock:
                    if channel not in self._home:
                        fresh = await self._link_for(channel, retry=False)
                        assert fresh is not None
                        self._home[channel] = fresh
                if fresh is not None:
                    await fresh.connected.wait()
                    await self._home.get(channel, fresh).add(channel)
                await confirmed.wait()
        except (TimeoutError, *_LINK_DOWN):
            await self._release(channel)
            raise Unavailable("the bus cannot be reached", retry_after=2.0) from None
        except Unavailable:
            await self._release(channel)
            raise

    async def unsubscribe(self, room_id: str) -> None:
        await self._release(keys.room_channel(room_id))

    async def _release(self, channel: str) -> None:
        left = self._holders.get(channel, 0) - 1
        if left > 0:
            self._holders[channel] = left
            return
        self._holders.pop(channel, None)
        self._confirmed.pop(channel, None)
        link = self._home.pop(channel, None)
        if link is not None:
            await link.drop(channel)
            if link.owned and not any(home is link for home in self._home.values()):
                self._retire(link)  # a primary none of our rooms lives on any more

    def _retire(self, link: _Link) -> None:
        if self._links.get(link.name) is link:
            del self._links[link.name]
        link.retired = True
        task = asyncio.create_task(link.stop(), name="bus-link-retire")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def confirm(self, channel: str) -> None:
        confirmed = self._confirmed.get(channel)
        if confirmed is not None:
            confirmed.set()

    def unconfirm(self, channel: str) -> None:
        confirmed = self._confirmed.get(channel)
        if confirmed is not None:
            confirmed.clear()

    def dispatch(self, channel: str, data: bytes) -> None:
        try:
            seq, event = parse_envelope(data)
        except (ValueError, TypeError):
            log.error("undecodable bus message on %s", channel)
            return
        self._on_event(_room_of(channel), seq, event)

    # Where channels live ---------------------------------------------------------------

    async def _link_for(self, channel: str, *, retry: bool) -> _Link | None:
        """The link to the node that owns ``channel``'s slot, started if new."""
        if self._cluster is None:
            name = "single"
            if name not in self._links:
                self._new_link(name, self._client, owned=False)
            return self._links[name]
        while True:
            try:
                await self._cluster.initialize()
                node = self._cluster.get_node_from_key(channel)
                if node is not None:
                    break
                raise redis_errors.RedisClusterException(f"no node serves {channel}")
            except (*_LINK_DOWN, redis_errors.RedisClusterException) as exc:
                if not retry or self.stopping:
                    raise Unavailable("the cluster cannot be reached", retry_after=2.0) from exc
                log.warning("cluster topology unavailable: %s", exc)
                await asyncio.sleep(0.5)
        if node.name not in self._links:
            # A client of the link's own on the node's connection settings (address,
            # password, TLS): its one pub/sub connection is not taken from the node's pool.
            pool = ConnectionPool(connection_class=node.connection_class, **node.connection_kwargs)
            self._new_link(node.name, Redis(connection_pool=pool), owned=True)
        return self._links[node.name]

    def _new_link(self, name: str, client: Redis, *, owned: bool) -> None:
        link = self._links[name] = _Link(self, name, client, owned=owned)
        link.start()

    def displaced(self, link: _Link, channel: str) -> None:
        task = asyncio.create_task(self._follow(link, channel), name="bus-move")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _follow(self, link: _Link, channel: str) -> None:
        """Subscribe where the channel's slot went. The node that gave it up says so first;
        the node the topology is read from may learn it a moment later, so ask again until
        the slot has a new owner (or, if it stays, subscribe here again)."""
        for attempt in range(FOLLOW_ATTEMPTS):
            await self._move(link, [channel])
            if self._home.get(channel) is not link:
                return
            await asyncio.sleep(min(0.05 * (attempt + 1), 0.5))
        if self._home.get(channel) is link:
            with contextlib.suppress(*_LINK_DOWN):
                await link.add(channel, moved=True)

    async def rehome(self, link: _Link) -> None:
        """After a link broke: move its channels to the primaries that own them now."""
        if self._cluster is None:
            return
        try:
            await self._cluster.nodes_manager.initialize()
        except (*_LINK_DOWN, redis_errors.RedisClusterException) as exc:
            log.warning("cluster topology unavailable: %s", exc)
            return
        await self._move(link, sorted(link.channels), revocations=link.revocations)

    async def _move(self, link: _Link, channels: list[str], *, revocations: bool = False) -> None:
        assert self._cluster is not None
        async with self._lock:
            try:
                await self._cluster.nodes_manager.initialize()
            except (*_LINK_DOWN, redis_errors.RedisClusterException) as exc:
                log.warning("cluster topology unavailable: %s", exc)
            for channel in channels:
                if self._home.get(channel) is not link:
                    continue
                try:
                    target = await self._link_for(channel, retry=False)
                except Unavailable:
                    continue
                if target is None or target is link:
                    continue
                link.channels.discard(channel)
                self._home[channel] = target
                log.info("bus channel %s moves from %s to %s", channel, link.name, target.name)
                with contextlib.suppress(*_LINK_DOWN):
                    await target.add(channel, moved=True)
            if revocations:
                target = await self._link_for(_REVOCATIONS, retry=False)
                if target is not None and target is not link:
                    link.revocations = False
                    target.revocations = True
                    self._home[_REVOCATIONS] = target
                    if target.up and target.pubsub is not None:
                        with contextlib.suppress(*_LINK_DOWN):
                            await target.pubsub.subscribe(_REVOCATIONS)
            if not link.channels and not link.revocations and link.owned:
                self._retire(link)
