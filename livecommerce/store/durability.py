"""Waiting until a write is safe before saying so: on disk, and on a cluster on a replica.

An order is acknowledged (201) only once the primary that holds it has it in its append-only
file (``WAITAOF``) and, on a cluster, once a replica has it too (``WAIT``): a primary that
dies right after the 201 is replaced by a replica that has the order.

Both commands wait for the writes of the connection that sends them, and a pooled client
sends each command on whichever connection is free. So the wait runs on one connection of
the primary that holds the given key, after a write of its own to a key in the same slot (the
slot's ``fence``): replication and the append-only file are in order, so once that write is
safe, so is everything the primary took before it, the order included.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection

from livecommerce.errors import Unavailable
from livecommerce.runtime import metrics
from livecommerce.store import keys
from livecommerce.store.connection import STORE_DOWN

log = logging.getLogger("livecommerce.store.durability")

FENCE_TTL_S = 60
_MOVED = (redis_errors.MovedError, redis_errors.AskError, redis_errors.TryAgainError)


@dataclass(frozen=True, slots=True)
class Safety:
    on_disk: bool  # the primary's append-only file has it (True when it keeps none)
    replicas: int  # replicas that have it


class Durability:
    def __init__(
        self,
        client: Redis,
        *,
        replicas: int = 0,
        timeout_ms: int = 5000,
        require_disk: bool = True,
    ) -> None:
        self.client = client
        self.replicas = replicas
        self.timeout_ms = timeout_ms
        self.require_disk = require_disk
        self._aof = True  # until the store says it keeps no append-only file

    async def settle(self, *tagged_keys: str) -> None:
        """Return once everything written so far to the primaries of ``tagged_keys`` is
        safe; ``Unavailable`` (retry with the same idempotency key) if it is not in time."""
        fences = sorted({keys.fence_of(key) for key in tagged_keys})
        try:
            results = await asyncio.gather(*(self._settle_one(fence) for fence in fences))
        except STORE_DOWN:
            if isinstance(self.client, RedisCluster):  # a primary died: learn who took over
                with contextlib.suppress(*STORE_DOWN, redis_errors.RedisError):
                    await self.client.nodes_manager.initialize()
            raise Unavailable("the store cannot confirm the order", retry_after=2) from None
        for safety in results:
            if self._aof and not safety.on_disk and self.require_disk:
                raise Unavailable(
                    "the order is not yet on disk; retry with the same key", retry_after=1
                )
            if safety.replicas < self.replicas:
                raise Unavailable(
                    "the order is not yet on a replica; retry with the same key", retry_after=1
                )

    async def _settle_one(self, fence: str) -> Safety:
        for attempt in range(3):
            async with self._connection_for(fence) as connection:
                # The fence, and (when replicas are wanted) how many the primary has now.
                first: list[tuple[Any, ...]] = [("SET", fence, "1", "EX", FENCE_TTL_S)]
                if self.replicas:
                    first.append(("ROLE",))
                written, *role = await self._exchange(connection, first)
                if isinstance(written, _MOVED) and attempt < 2:
                    # The slot moved (a failover or a migration): ask where it is now.
                    await self.client.nodes_manager.initialize()  # type: ignore[attr-defined]
                    continue
                if isinstance(written, Exception):
                    raise written
                wanted = self._replicas_to_wait(fence, role[0] if role else None)
                waits: list[tuple[Any, ...]] = []
                if self._aof:
                    waits.append(("WAITAOF", 1, 0, self.timeout_ms))
                if wanted:
                    waits.append(("WAIT", wanted, self.timeout_ms))
                answers = await self._exchange(connection, waits) if waits else []
                return self._safety(answers, wanted)
        raise Unavailable("the order's slot keeps moving", retry_after=1)

    def _replicas_to_wait(self, fence: str, role: Any) -> int:
        """As many replicas as wanted, or as the primary has: a shard whose primary died
        runs on its promoted replica alone until the dead node comes back as a replica, and
        orders go on being taken there (a second failure before then could lose them)."""
        if not self.replicas or role is None or isinstance(role, Exception):
            return 0
        connected = len(role[2]) if len(role) > 2 else 0
        if connected < self.replicas:
            metrics.ORDERS_UNDER_REPLICATED.inc()
            log.warning(
                "the primary of %s has %d replicas of the %d orders wait for",
                fence,
                connected,
                self.replicas,
            )
        return min(self.replicas, connected)

    def _safety(self, answers: list[Any], wanted: int) -> Safety:
        on_disk, replicas = True, self.replicas
        if self._aof:
            aof = answers.pop(0)
            if isinstance(aof, redis_errors.ResponseError):
                # A store without an append-only file (or older than 7.2) refuses WAITAOF.
                self._aof = False
                log.warning("WAITAOF refused (%s); orders rely on the store's persistence", aof)
            else:
                on_disk = int(aof[0]) >= 1
        if wanted:
            waited = answers.pop(0)
            if isinstance(waited, Exception):
                raise waited
            replicas = self.replicas if int(waited) >= wanted else int(waited)
        return Safety(on_disk, replicas)

    async def _exchange(self, connection: Connection, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send ``commands`` at once and read every answer, an error answer as its error."""
        await connection.send_packed_command(connection.pack_commands(commands))
        answers: list[Any] = []
        for _ in commands:
            try:
                # Longer than the socket's own timeout: the waits take up to theirs.
                answers.append(await connection.read_response(timeout=self.timeout_ms / 1000 + 2))
            except redis_errors.ResponseError as exc:
                answers.append(exc)
        return answers

    @contextlib.asynccontextmanager
    async def _connection_for(self, key: str) -> AsyncIterator[Connection]:
        """One connection to the primary of ``key``'s slot, held for the whole exchange."""
        client: Any = self.client
        gate = getattr(client, "gate", None)  # a cluster client's (store/connection.py)
        async with gate if gate is not None else contextlib.nullcontext():
            connection, release = await self._acquire(key)
            try:
                yield connection
            except BaseException:
                await connection.disconnect()  # its state is unknown: not for the next user
                raise
            finally:
                await release()

    async def _acquire(self, key: str) -> tuple[Connection, Callable[[], Awaitable[None]]]:
        client: Any = self.client
        if isinstance(client, RedisCluster):
            await client.initialize()
            node = client.get_node_from_key(key)
            if node is None:
                raise Unavailable("no node holds the order's slot", retry_after=1)
            connection = node.acquire_connection()

            async def give_back() -> None:
                node.release(connection)

            return connection, give_back
        pool = client.connection_pool
        connection = await pool.get_connection()
        return connection, functools.partial(pool.release, connection)
