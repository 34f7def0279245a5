"""In-process servers on port 0 against the session's real Valkey."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from livecommerce.config import Settings
from livecommerce.runtime.ids import Ids
from livecommerce.server import Server
from tests.conftest import STORE_IS_CLUSTER
from tests.receivers import StartReceiver, running_receivers

ServerFactory = Callable[..., Awaitable[Server]]


def settings_for(redis_url: str, data_dir: Path, **overrides: Any) -> Settings:
    base = Settings(
        host="127.0.0.1",
        port=0,
        ws_port=0,
        redis_url=redis_url,
        data_dir=data_dir,
        secret="test-secret-that-is-long-enough-for-hs256",
        tick_ms=10,
        log_format="text",
        log_level="warning",
        allow_private_webhooks=True,  # the receivers listen on 127.0.0.1
        # Every test client shares 127.0.0.1: address limits are tested on their own.
        limit_signup="0",
        limit_signin="0",
        limit_signin_failures="0",
        limit_signin_account="0",
        limit_guest_join="0",
        limit_watch="0",
        wait_replicas=0,  # the session's one-node cluster (tests/conftest.py) has no replica
        # A shared test machine lags now and then; a server that turned the story's own
        # joins away for it would fail the story. Load shedding is tested on its own.
        shedding=False,
    )
    return replace(base, **overrides)


@pytest.fixture
async def start_server(redis_url: str, tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """Start servers with settings of the test's choosing; all stop at teardown."""
    started: list[Server] = []

    async def start(
        clock: Callable[[], float] | None = None, ids: Ids | None = None, **overrides: Any
    ) -> Server:
        overrides.setdefault("redis_url", redis_url)
        # The session's store is a cluster unless LIVECOMMERCE_TEST_STORE says otherwise;
        # a private Valkey a test passes is a single one.
        overrides.setdefault(
            "redis_cluster", STORE_IS_CLUSTER and overrides["redis_url"] == redis_url
        )
        data_dir = overrides.pop("data_dir", tmp_path / f"server{len(started)}")
        settings = settings_for(data_dir=data_dir, **overrides)
        server = Server(settings, clock=clock, ids=ids) if clock else Server(settings, ids=ids)
        await server.start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        await server.stop()


@pytest.fixture
async def server(start_server: ServerFactory) -> Server:
    return await start_server()


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as client:
        yield client


@pytest.fixture
async def start_receiver() -> AsyncIterator[StartReceiver]:
    """Start merchant webhook receivers on loopback; all stop at teardown."""
    async for start in running_receivers():
        yield start
