"""The one Redis (or Valkey) connection every store shares, and what crosses it.

Every concept's store (accounts, rooms, chat, sales, ...) runs on one client and its bounded
pool, so a rush waits for a connection rather than being refused one. A lost or refused
connection surfaces as ``Unavailable`` (``guarded``), which the edges answer with 503 and a
retry hint. Events travel as MessagePack; Redis answers bytes, read back as text here.
"""

from __future__ import annotations

import asyncio
import functools
import os
import traceback
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, ParamSpec, TypeVar, cast

import msgpack
from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster

from livecommerce.errors import Unavailable
from livecommerce.events import Event

P = ParamSpec("P")
T = TypeVar("T")

STORE_DOWN = (redis_errors.ConnectionError, redis_errors.TimeoutError, ConnectionError, OSError)
# A cluster's slot that is moving (a migration, a failover) after the client's own retries.
SLOT_MOVING = (
    redis_errors.TryAgainError,
    redis_errors.ClusterError,  # "TTL exhausted": still redirected after all its retries
    redis_errors.AskError,
    redis_errors.SlotNotCoveredError,
)
RETRY_AFTER_S = 2.0
MAX_CONNECTIONS = 64
POOL_WAIT_S = 10.0


def connect(url: str, *, cluster: bool = False) -> Redis:
    """A client on a pool of its own, as every process uses it."""
    if cluster:
        return connect_cluster(url)
    # A rush puts thousands of commands in flight at once: they wait for one of a bounded
    # set of connections (redis-py's default pool refuses the 101st instead).
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_WAIT_S,
        socket_timeout=5,
        socket_connect_timeout=2,
        health_check_interval=10,
        decode_responses=False,
    )
    return Redis(connection_pool=pool)


class GatedCluster(RedisCluster):
    """A cluster client whose commands wait for a free connection rather than fail.

    redis-py's cluster client refuses a command once a node's connections are all busy,
    where the single-node client's blocking pool waits. A rush puts thousands of commands in
    flight at once, so commands pass a gate as wide as each node's pool: each command and each
    pipeline uses at most one connection per node, so no node's pool is ever exhausted.
    """

    def __init__(self, *args: Any, gate: int = MAX_CONNECTIONS, **kwargs: Any) -> None:
        kwargs["max_connections"] = gate + 8  # the slack is for the bus's own links
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Semaphore(gate)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.gate:
            return await super().execute_command(*args, **kwargs)

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> ClusterPipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)
        return _GatedPipeline(self, transaction)  # type: ignore[abstract]


class _GatedPipeline(ClusterPipeline):
    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> Any:
        assert isinstance(self.cluster_client, GatedCluster)
        async with self.cluster_client.gate:
            return await super().execute(raise_on_error, allow_redirections)


def connect_cluster(url: str) -> Redis:
    """A Redis Cluster client: ``url`` names any one node, the client finds the rest.

    Typed as the single-node client: the stores use the command surface both share.
    """
    client = GatedCluster.from_url(
        url,
        socket_timeout=5,
        socket_connect_timeout=2,
        decode_responses=False,
    )
    return cast(Redis, client)


def guarded(method: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Turn a lost or refused Redis connection into ``Unavailable`` for the edges."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except redis_errors.BusyLoadingError:
            raise Unavailable("the store is loading its data", retry_after=RETRY_AFTER_S) from None
        except STORE_DOWN:
            raise Unavailable("the store cannot be reached", retry_after=RETRY_AFTER_S) from None
        except SLOT_MOVING:
            raise Unavailable("the store is moving this data", retry_after=0.5) from None
        except (AttributeError, RuntimeError) as exc:
            if not _inside_redis(exc):
                raise
            # redis-py's cluster client may send on a connection that a failover has closed
            # under it (its writer is None, or its transport closed): the store going away.
            raise Unavailable("the store cannot be reached", retry_after=RETRY_AFTER_S) from None

    return wrapper


def _inside_redis(exc: BaseException) -> bool:
    """Whether ``exc`` was raised in redis-py's own code, not ours."""
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and f"{os.sep}redis{os.sep}" in frames[-1].filename


def pack_event(event: Mapping[str, Any]) -> bytes:
    return msgpack.packb(event, use_bin_type=True)  # type: ignore[no-any-return]


def unpack_event(data: bytes) -> Event:
    event: Event = msgpack.unpackb(data, raw=False)
    return event


def as_text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def as_strings(raw: dict[Any, Any]) -> dict[str, str]:
    return {as_text(k): as_text(v) for k, v in raw.items()}
