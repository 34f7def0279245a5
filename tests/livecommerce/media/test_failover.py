"""Two server processes on one Valkey: viewers reach the stream wherever they land; when the
process that carried it dies, the room hears the stream is offline, and the show goes on
from the other process when the studio publishes again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import timeout
from tests.helpers import join, open_room, sign_up
from tests.livecommerce.media.peers import go_live, watch
from tests.processes import ServerProcess, start_process

pytestmark = pytest.mark.multiprocess

SECRET = "shared-secret-of-the-cluster-32b"


@pytest.fixture
async def two_servers(redis_url: str, tmp_path: Path) -> AsyncIterator[list[ServerProcess]]:
    # A process that has not said it streams for a second is taken for dead.
    shared = ["--redis-url", redis_url, "--secret", SECRET, "--stream-claim-s", "1"]
    servers = await asyncio.gather(
        start_process(tmp_path / "a", *shared), start_process(tmp_path / "b", *shared)
    )
    yield list(servers)
    await asyncio.gather(*(s.stop() for s in servers))


async def test_the_studio_goes_on_from_another_process_when_its_own_is_killed(
    two_servers: list[ServerProcess],
) -> None:
    a, b = two_servers
    async with (
        httpx.AsyncClient(base_url=a.http_url, timeout=10) as on_a,
        httpx.AsyncClient(base_url=b.http_url, timeout=10, follow_redirects=True) as on_b,
    ):
        ada = await sign_up(on_b, "Ada")
        room = await open_room(on_b, ada)
        people = await join(b.ws_url, room["id"])
        publisher, _, _ = await go_live(on_a, room["id"], ada.headers)
        viewer = await watch(on_b, room["id"])  # lands on b, sent to a
        try:
            async with asyncio.timeout(timeout(20)):
                assert (await people.expect("stream.state", wait=20))["state"] == "live"
                first = await viewer.frames(10)
            assert first == sorted(first)

            a.kill()  # mid-show, no goodbye: the studio's connection is gone with it
            await a.process.wait()
            await publisher.close()
            await viewer.close()
            # b notices that a stopped saying it streams, and tells the room.
            while (await people.expect("stream.state", wait=20))["state"] != "offline":
                pass
            room_now = (await on_b.get(f"/api/v1/rooms/{room['id']}")).json()
            assert room_now["stream"] == "offline"

            publisher, _, _ = await go_live(on_b, room["id"], ada.headers, start=7000)
            again = await watch(on_b, room["id"])  # b has the stream now: no redirect
            try:
                async with asyncio.timeout(timeout(20)):
                    counters = await again.frames(10)
                    while (await people.expect("stream.state", wait=20))["state"] != "live":
                        pass
            finally:
                await again.close()
            assert counters == sorted(counters)
            assert min(counters) >= 7000
            room_now = (await on_b.get(f"/api/v1/rooms/{room['id']}")).json()
            assert room_now["stream"] == "live"
        finally:
            await publisher.close()
            await viewer.close()
            await people.close()
