"""What the stores' connection turns a store going away into, single or cluster."""

from __future__ import annotations

import asyncio
import threading

import pytest
from redis.asyncio.connection import Connection
from redis.crc import key_slot

from livecommerce.errors import Unavailable
from livecommerce.store import keys
from livecommerce.store.connection import connect, guarded
from livecommerce.store.embedded_cluster import EmbeddedCluster
from tests.conftest import timeout


async def test_a_connection_closed_under_redis_py_is_the_store_going_away() -> None:
    """redis-py's cluster transactions can send on a connection a failover closed (its
    writer is None); the buyer hears 'unavailable, retry', not an internal error."""
    closed = Connection()  # never connected: it has no writer, as after a failover

    @guarded
    async def watch() -> None:
        await closed._send_packed_command([b"WATCH k\r\n"])

    with pytest.raises(Unavailable) as caught:
        await watch()
    assert caught.value.code == "unavailable"


async def test_our_own_attribute_error_is_still_a_bug() -> None:
    @guarded
    async def broken() -> None:
        raise AttributeError("a bug of ours, not the store")

    with pytest.raises(AttributeError, match="a bug of ours"):
        await broken()


async def test_a_slot_still_moving_after_the_clients_retries_asks_for_a_retry_soon(
    private_cluster: EmbeddedCluster,
) -> None:
    """A script whose keys are half moved to another primary gets TRYAGAIN until the move
    ends; the buyer hears 'unavailable' with a short retry hint, not an internal error."""
    client = connect(private_cluster.url, cluster=True)
    try:
        room = keys.room("R")
        await client.hset(room, "state", "live")
        await client.set(keys.room_seq("R"), 1)
        slot = key_slot(room.encode())
        source = private_cluster.primary_for_slot(slot)
        target = next(p for p in private_cluster.primaries() if p is not source)
        halfway = threading.Event()
        done = threading.Event()

        def pause() -> None:
            halfway.set()
            done.wait(timeout(30))

        moving = asyncio.create_task(
            asyncio.to_thread(private_cluster.migrate_slot, slot, target, pause=pause, batch_size=1)
        )
        await asyncio.to_thread(halfway.wait, timeout(30))

        @guarded
        async def both() -> object:
            return await client.eval(
                "return redis.call('EXISTS', KEYS[1], KEYS[2])", 2, room, keys.room_seq("R")
            )

        try:
            with pytest.raises(Unavailable) as caught:
                await both()
        finally:
            done.set()
        assert caught.value.retry_after == 0.5
        await moving
        assert await both() == 2  # whole again, on the new primary
    finally:
        await client.aclose()
