"""The bus between processes: one Redis pub/sub connection per process.

Each room a process has viewers for is one channel; one more carries sign-outs to every
process (``on_revoked``), which closes the sockets holding a revoked token. Subscribing waits
for Redis to confirm, because a snapshot read before the subscription is live could miss an
event published in between. When the connection breaks the bus tells every room
(``unavailable``), reconnects with backoff, resubscribes and, once Redis has confirmed every
subscription, asks every room to read back what it missed (and the gateway to look again for
sign-outs it may have missed): an event published after a read-back reached Redis must reach
the process by pub/sub, so the subscription has to be live by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from livecommerce.errors import Unavailable
from livecommerce.runtime import metrics
from livecommerce.runtime.lifecycle import stop_task
from livecommerce.store import keys
from livecommerce.store.connection import STORE_DOWN
from livecommerce.store.history import parse_envelope

log = logging.getLogger("livecommerce.bus")

_PREFIX = keys.room_channel("")
_REVOCATIONS = keys.revocations_channel()
Handler = Callable[[str, int | None, dict[str, Any]], None]


class Bus:
    def __init__(
        self,
        client: Redis,
        on_event: Handler,
        on_down: Callable[[], None],
        on_up: Callable[[], None],
        *,
        on_revoked: Callable[[str], None] = lambda session: None,
        confirm_timeout_s: float = 5.0,
    ) -> None:
        self._client = client
        self._on_event = on_event
        self._on_revoked = on_revoked
        self._on_down = on_down
        self._on_up = on_up
        self._confirm_timeout_s = confirm_timeout_s
        self._wanted: set[str] = set()
        self._holders: dict[str, int] = {}  # the room's channels and the media plane share
        self._confirmed: dict[str, asyncio.Event] = {}
        self._pubsub: PubSub | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.up = False
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="bus")

    async def stop(self) -> None:
        self._stopping = True
        await stop_task(self._task)
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            # A pub/sub cancelled in the middle of a command can wait forever on its own
            # connection's lock; closing is best effort, bounded.
            try:
                async with asyncio.timeout(2):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            except (TimeoutError, *STORE_DOWN):
                if pubsub.connection is not None:
                    await pubsub.connection.disconnect(nowait=True)

    async def subscribe(self, room_id: str) -> None:
        """Hear a room's events; each subscribe is undone by one unsubscribe."""
        channel = keys.room_channel(room_id)
        self._holders[channel] = self._holders.get(channel, 0) + 1
        if self._holders[channel] > 1 and channel in self._wanted:
            confirmed = self._confirmed.get(channel)
            if confirmed is not None and confirmed.is_set():
                return
        self._wanted.add(channel)
        confirmed = self._confirmed.setdefault(channel, asyncio.Event())
        try:
            async with asyncio.timeout(self._confirm_timeout_s):
                await self._connected.wait()
                assert self._pubsub is not None
                await self._pubsub.subscribe(channel)
                await confirmed.wait()
        except (TimeoutError, *STORE_DOWN):
            self._release(channel)
            raise Unavailable("the bus cannot be reached", retry_after=2.0) from None

    def _release(self, channel: str) -> bool:
        """One holder fewer; whether that was the last."""
        left = self._holders.get(channel, 0) - 1
        if left > 0:
            self._holders[channel] = left
            return False
        self._holders.pop(channel, None)
        self._wanted.discard(channel)
        self._confirmed.pop(channel, None)
        return True

    async def unsubscribe(self, room_id: str) -> None:
        channel = keys.room_channel(room_id)
        if not self._release(channel):
            return
        if self._pubsub is not None and self.up:
            with contextlib.suppress(*STORE_DOWN):
                await self._pubsub.unsubscribe(channel)

    async def _run(self) -> None:
        delay = 0.05
        # redis-py can turn a cancellation in the middle of a read into a connection error;
        # the flag makes sure a stopping bus does not take that for an outage and retry.
        while not self._stopping:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except STORE_DOWN as exc:
                log.warning("bus connection lost: %s", exc)
            except Exception:
                log.exception("bus failed")
            if self.up:
                self.up = False
                delay = 0.05  # the first retry of an outage comes quickly, as the first did
                metrics.STORE_UNAVAILABLE.inc()
                self._on_down()
            self._connected.clear()
            for event in self._confirmed.values():
                event.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _session(self) -> None:
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        self._pubsub = self._client.pubsub()
        await self._pubsub.ping()  # forces the connection before we claim to be up
        unconfirmed = {_REVOCATIONS, *self._wanted}
        await self._pubsub.subscribe(*unconfirmed)
        self.up = True
        self._connected.set()
        task = asyncio.current_task()
        while not self._stopping:
            if task is not None and task.cancelling():
                raise asyncio.CancelledError
            message = await self._pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            kind = message["type"]
            channel = (
                message["channel"].decode()
                if isinstance(message["channel"], bytes)
                else message["channel"]
            )
            if (kind == b"message" or kind == "message") and channel == _REVOCATIONS:
                self._on_revoked(bytes(message["data"]).decode("ascii", "replace"))
            elif kind == b"message" or kind == "message":
                self._dispatch(channel, message["data"])
            elif kind in (b"subscribe", "subscribe"):
                confirmed = self._confirmed.get(channel)
                if confirmed is not None:
                    confirmed.set()
                if channel in unconfirmed:
                    unconfirmed.discard(channel)
                    if not unconfirmed:
                        self._on_up()

    def _dispatch(self, channel: str, data: bytes) -> None:
        try:
            seq, event = parse_envelope(data)
        except (ValueError, TypeError):
            log.error("undecodable bus message on %s", channel)
            return
        self._on_event(channel[len(_PREFIX) :], seq, event)
