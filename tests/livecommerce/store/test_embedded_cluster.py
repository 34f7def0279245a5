"""The embedded Valkey Cluster behaves as a real one because it is one: keys spread over the
primaries, scripts stay within a slot, sharded pub/sub reaches the slot's primary, a replica
takes over from a killed primary with every acknowledged write, a slot moves while a client
uses it, and a restarted node rejoins. Real nodes, real cluster clients."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from livecommerce.store.embedded_cluster import EmbeddedCluster, EmbeddedClusterError
from tests.conftest import timeout

TWO_KEYS = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])"


@asynccontextmanager
async def cluster_client(url: str) -> AsyncIterator[RedisCluster]:
    client = RedisCluster.from_url(url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@asynccontextmanager
async def node_client(url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


async def asked(client: redis.asyncio.Redis, key: str) -> bool:
    """Whether the node sent the client elsewhere with ASK for this key."""
    try:
        await client.get(key)
    except redis.exceptions.AskError:
        return True
    return False


async def test_keys_spread_over_every_primary_and_read_back(
    cluster_url: str, valkey_cluster: EmbeddedCluster
) -> None:
    async with cluster_client(cluster_url) as client:
        for i in range(60):
            await client.set(f"item:{i}", i)
        assert [await client.get(f"item:{i}") for i in range(60)] == [str(i) for i in range(60)]

    primaries = valkey_cluster.primaries()
    assert len(primaries) == 3
    held = [primary.call("DBSIZE") for primary in primaries]
    assert sum(held) == 60
    assert all(count > 0 for count in held)
    assert valkey_cluster.primary_for_key("item:7").call("GET", "item:7") == "7"


async def test_a_script_runs_on_one_hash_tag_and_is_refused_across_tags(
    cluster_url: str, valkey_cluster: EmbeddedCluster
) -> None:
    async with cluster_client(cluster_url) as client:
        assert await client.eval(TWO_KEYS, 2, "{r:1}:name", "{r:1}:count", "show") == 1
        assert await client.get("{r:1}:name") == "show"

    # The node itself refuses keys of two slots, whichever client sends them.
    node = valkey_cluster.primary_for_key("{r:1}")
    async with node_client(node.url) as direct:
        with pytest.raises(redis.exceptions.ClusterCrossSlotError):
            await direct.eval(TWO_KEYS, 2, "{r:1}:name", "{r:2}:count", "show")


async def test_a_sharded_message_reaches_a_subscriber_on_the_slots_primary(
    cluster_url: str, valkey_cluster: EmbeddedCluster
) -> None:
    channel = "{r:42}:events"
    primary = valkey_cluster.primary_for_key(channel)
    async with node_client(primary.url) as direct, cluster_client(cluster_url) as client:
        subscriber = direct.pubsub()
        await subscriber.ssubscribe(channel)
        async with asyncio.timeout(timeout(5)):
            while (await subscriber.get_message(timeout=1.0)) is None:
                pass  # the subscribe confirmation
            assert await client.spublish(channel, "sold out") == 1
            message = None
            while message is None:
                message = await subscriber.get_message(timeout=1.0)
        await subscriber.aclose()
    assert message["type"] == "smessage"
    assert message["data"] == "sold out"


async def test_a_killed_primary_gives_way_to_its_replica_keeping_acknowledged_writes(
    private_cluster: EmbeddedCluster,
) -> None:
    key = "{r:7}:order"
    primary = private_cluster.primary_for_key(key)
    replica = private_cluster.replica_of(primary)
    keys = (f"{{r:{i}}}:order" for i in range(100))
    elsewhere = next(k for k in keys if private_cluster.primary_for_key(k) is not primary)
    async with cluster_client(private_cluster.url) as client:
        async with node_client(primary.url) as direct:
            await direct.set(key, "paid")
            assert await direct.wait(1, int(timeout(5) * 1000)) == 1

        private_cluster.kill(primary)
        # Rooms on the other primaries go on while this one's replica takes over.
        await client.set(elsewhere, "paid")
        new_primary = await asyncio.to_thread(private_cluster.wait_failover, primary, timeout(20))

        assert new_primary is replica
        assert new_primary.role() == "primary"
        assert private_cluster.primary_for_key(key) is new_primary
        assert await client.get(key) == "paid"
        await client.set(key, "shipped")  # the cluster takes writes again

        await asyncio.to_thread(private_cluster.restart, primary, timeout(30))

    assert primary.role() == "replica"
    assert private_cluster.replica_of(new_primary) is primary
    assert primary.call("DBSIZE") == 1  # synced from the new primary


async def test_a_slot_moves_while_a_client_writes_and_reads_it(
    private_cluster: EmbeddedCluster,
) -> None:
    slot = key_slot(b"r:9")
    source = private_cluster.primary_for_slot(slot)
    target = next(node for node in private_cluster.primaries() if node is not source)
    loop = asyncio.get_running_loop()
    paused, resume = asyncio.Event(), threading.Event()

    def pause() -> None:
        loop.call_soon_threadsafe(paused.set)
        resume.wait(timeout(20))

    written: dict[str, str] = {}
    async with cluster_client(private_cluster.url) as client:
        for i in range(120):
            written[f"{{r:9}}:{i}"] = f"v{i}"
            await client.set(f"{{r:9}}:{i}", f"v{i}")

        migration = asyncio.create_task(
            asyncio.to_thread(
                private_cluster.migrate_slot, slot, target, pause=pause, batch_size=50
            )
        )
        try:
            async with asyncio.timeout(timeout(10)):
                await paused.wait()
            # Mid-migration: the first 50 keys moved; the source sends clients after them.
            assert target.call("CLUSTER", "COUNTKEYSINSLOT", slot) == 50
            async with node_client(source.url) as direct:
                assert sum([await asked(direct, key) for key in written]) == 50
            for i in range(0, 120, 7):  # moved and unmoved keys alike
                written[f"{{r:9}}:{i}"] = f"w{i}"
                await client.set(f"{{r:9}}:{i}", f"w{i}")
            for i in range(120, 140):  # new keys go to the target
                written[f"{{r:9}}:{i}"] = f"n{i}"
                await client.set(f"{{r:9}}:{i}", f"n{i}")
            assert {k: await client.get(k) for k in written} == written
        finally:
            resume.set()

        i = 140
        while not migration.done():  # writes go on while the rest moves and the slot flips
            written[f"{{r:9}}:{i}"] = f"n{i}"
            await client.set(f"{{r:9}}:{i}", f"n{i}")
            i += 1
        await migration

        assert private_cluster.primary_for_slot(slot) is target
        assert {k: await client.get(k) for k in written} == written
    assert target.call("CLUSTER", "COUNTKEYSINSLOT", slot) == len(written)
    assert source.call("CLUSTER", "COUNTKEYSINSLOT", slot) == 0


async def test_a_one_node_cluster_holds_every_slot_and_still_refuses_cross_slot_scripts(
    tmp_path: Path,
) -> None:
    cluster = EmbeddedCluster(tmp_path / "one", primaries=1, replicas=0)
    # Started from a thread that ends at once: the node must outlive it (Linux sends a
    # child's parent-death signal when the thread that forked it ends).
    starter = threading.Thread(target=cluster.start, args=(timeout(30),))
    starter.start()
    await asyncio.to_thread(starter.join)
    try:
        [node] = cluster.nodes
        assert node.process is not None
        with pytest.raises(subprocess.TimeoutExpired):  # it would be gone within 0.2 s
            await asyncio.to_thread(node.process.wait, 0.5)
        assert cluster.primaries() == [node]
        assert cluster.primary_for_slot(0) is node
        assert cluster.primary_for_slot(16383) is node
        async with cluster_client(cluster.url) as client:
            assert await client.eval(TWO_KEYS, 2, "{r:1}:name", "{r:1}:count", "show") == 1
        async with node_client(node.url) as direct:
            with pytest.raises(redis.exceptions.ClusterCrossSlotError):
                await direct.eval(TWO_KEYS, 2, "{r:1}:name", "{r:2}:count", "show")
        assert node.running
        assert node.call("PING")
    finally:
        await asyncio.to_thread(cluster.stop)


def test_a_cluster_that_cannot_start_says_why_and_leaves_nothing_running(tmp_path: Path) -> None:
    cluster = EmbeddedCluster(tmp_path / "bad", primaries=1, replicas=0, appendfsync="sometimes")
    with pytest.raises(EmbeddedClusterError, match="appendfsync"):
        cluster.start(timeout(10))
    assert not any(node.running for node in cluster.nodes)
