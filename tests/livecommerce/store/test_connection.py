"""What the stores' connection turns a store going away into, single or cluster."""

from __future__ import annotations

import pytest
from redis.asyncio.connection import Connection

from livecommerce.errors import Unavailable
from livecommerce.store.connection import guarded


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
