"""An order's 201 waits until the order is safe: on disk, and on a cluster on a replica."""

from __future__ import annotations

import asyncio

import redis
import redis.asyncio as aioredis

from livecommerce.errors import Unavailable
from livecommerce.runtime import metrics
from livecommerce.store import keys
from livecommerce.store.connection import connect
from livecommerce.store.durability import Durability
from livecommerce.store.embedded import EmbeddedValkey
from livecommerce.store.embedded_cluster import EmbeddedCluster
from tests.conftest import timeout


async def test_on_one_valkey_the_wait_follows_a_write_on_its_own_connection(
    private_valkey: EmbeddedValkey,
) -> None:
    client = aioredis.Redis.from_url(private_valkey.url)
    try:
        await client.set(keys.order("R", "o1"), b"{}")
        await Durability(client).settle(keys.room_orders("R"))
        assert await client.get(keys.fence_of(keys.room_orders("R"))) == b"1"
        assert await client.ttl(keys.fence_of(keys.room_orders("R"))) > 0  # it goes away
    finally:
        await client.aclose()


async def test_on_a_cluster_an_order_is_on_its_primarys_replica_when_the_wait_returns(
    valkey_cluster: EmbeddedCluster, cluster_url: str
) -> None:
    client = connect(cluster_url, cluster=True)
    try:
        order, index = keys.order("R", "o1"), keys.buyer_orders("U")
        await client.set(order, b'{"id": "o1"}')
        await client.zadd(index, {"R o1": 1})
        await Durability(client, replicas=1).settle(keys.room_orders("R"), index)
        for key in (order, index):
            replica = valkey_cluster.replica_of(valkey_cluster.primary_for_key(key))
            reading = redis.Redis(
                port=replica.port, password=replica.password, single_connection_client=True
            )
            try:
                reading.readonly()
                assert reading.exists(key) == 1, f"{key} is not on the replica yet"
            finally:
                reading.close()
    finally:
        await client.aclose()


async def test_a_shard_with_no_replica_left_takes_orders_and_says_so(redis_url: str) -> None:
    """The session's one-node cluster is a shard whose replica is gone (a failover's
    aftermath): the order is not refused, and the shortfall is counted."""
    client = connect(redis_url, cluster=True)
    before = metrics.ORDERS_UNDER_REPLICATED._value.get()
    try:
        await Durability(client, replicas=1, timeout_ms=200).settle(keys.room_orders("R"))
        assert metrics.ORDERS_UNDER_REPLICATED._value.get() == before + 1
    finally:
        await client.aclose()


async def test_after_a_failover_the_promoted_primary_alone_takes_orders_and_says_so(
    private_cluster: EmbeddedCluster,
) -> None:
    """A primary dies and stays down: its replica takes over with no replica of its own.
    Orders on that shard still settle (waiting on none), each counted as under-replicated;
    an order on a shard that kept its replica waits for it and is not counted."""
    client = connect(private_cluster.url, cluster=True)
    durability = Durability(client, replicas=1, timeout_ms=2000)
    hit, spared = keys.room_orders("R_hit"), keys.room_orders("R_spared")
    dead = private_cluster.primary_for_key(hit)
    if private_cluster.primary_for_key(spared) is dead:
        spared = next(
            keys.room_orders(f"R_{i}")
            for i in range(100)
            if private_cluster.primary_for_key(keys.room_orders(f"R_{i}")) is not dead
        )
    try:
        await client.set(hit, b"before")
        await durability.settle(hit)
        private_cluster.kill(dead)
        promoted = private_cluster.wait_failover(dead, timeout=timeout(30))
        assert promoted.role() == "primary"

        before = metrics.ORDERS_UNDER_REPLICATED._value.get()
        async with asyncio.timeout(timeout(30)):
            while True:  # the client learns the new owner, as a retrying buyer's does
                try:
                    await client.set(hit, b"after")
                    await durability.settle(hit)
                    break
                except (Unavailable, redis.RedisError):
                    await asyncio.sleep(0.2)
        assert metrics.ORDERS_UNDER_REPLICATED._value.get() == before + 1
        assert promoted.call("GET", hit) == "after"  # the promoted primary holds it

        await client.set(spared, b"order")
        await durability.settle(spared)
        assert metrics.ORDERS_UNDER_REPLICATED._value.get() == before + 1
    finally:
        await client.aclose()
