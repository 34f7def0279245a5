"""Follows on two server processes: counts stay exact whichever process each toggle lands
on, and each show's reminder and live notice reaches the merchant once.

Both processes tick the notices; one claims each. The story knows every notice has been
settled when the notice set and the webhook due set are both empty, after which nothing more
can arrive, so the count of deliveries it then reads is final.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from livecommerce.store import keys
from livecommerce.store.connection import as_text
from tests.conftest import timeout
from tests.helpers import minted, open_room, sign_up
from tests.processes import ServerProcess, start_process
from tests.receivers import StartReceiver

pytestmark = pytest.mark.multiprocess

SECRET = "follows-secret-of-the-cluster-32b"
FANS = 24


@pytest.fixture
async def two_servers(redis_url: str, tmp_path: Path) -> AsyncIterator[list[ServerProcess]]:
    # A reminder is due an hour before a show, so a show two minutes out is due at once.
    args = ["--redis-url", redis_url, "--secret", SECRET, "--show-reminder-lead-s", "3600"]
    servers = await asyncio.gather(
        start_process(tmp_path / "a", *args), start_process(tmp_path / "b", *args)
    )
    yield list(servers)
    await asyncio.gather(*(s.stop() for s in servers))


async def _settled(client: Redis, room_id: str, creator_id: str) -> None:
    """Until no notice of the show waits and no webhook delivery of the creator is left to
    send (other stories' deliveries may be waiting in the same store)."""
    notices = [f"{room_id} reminder", f"{room_id} live"]
    async with asyncio.timeout(timeout(15)):
        while True:
            waiting = await client.zmscore(keys.show_notices(), notices)
            due = await client.zrange(keys.webhooks_due(), 0, -1)
            async with client.pipeline(transaction=False) as pipe:
                for delivery_id in due:
                    pipe.hget(keys.webhook_delivery(as_text(delivery_id)), "creator_id")
                owners = await pipe.execute()
            if all(w is None for w in waiting) and creator_id.encode() not in owners:
                return
            await asyncio.sleep(0.05)


async def test_follower_counts_stay_exact_and_each_notice_is_sent_once_by_two_processes(
    two_servers: list[ServerProcess], start_receiver: StartReceiver, redis_url: str
) -> None:
    a, b = (httpx.AsyncClient(base_url=s.http_url, timeout=timeout(10)) for s in two_servers)
    client = Redis.from_url(redis_url)
    try:
        receiver = await start_receiver()
        kari = await sign_up(a, "Kari")
        hook = await a.post(
            "/api/v1/webhooks",
            json={"url": receiver.url, "events": ["show.reminder", "show.live"]},
            headers=kari.headers,
        )
        assert hook.status_code == 201, hook.text
        tag = secrets.token_hex(3)
        fans = [minted(f"fan{tag}{i:02d}", SECRET) for i in range(FANS)]

        async def toggle(http: httpx.AsyncClient, fan_index: int, on: bool) -> None:
            fan = fans[fan_index]
            path = f"/api/v1/creators/{kari.id}/follow"
            answer = await (http.put if on else http.delete)(path, headers=fan.headers)
            assert answer.status_code == 200, answer.text

        # Every fan follows on both processes at once; then the odd ones unfollow on both.
        await asyncio.gather(*(toggle(h, i, True) for i in range(FANS) for h in (a, b)))
        await asyncio.gather(
            *(toggle(h, i, False) for i in range(1, FANS, 2) for h in (b, a)),
            *(toggle(h, i, True) for i in range(0, FANS, 2) for h in (b, a)),
        )
        expected = {f.id for f in fans[0::2]}
        for http in (a, b):
            assert (await http.get(f"/api/v1/creators/{kari.id}")).json()["followers"] == FANS // 2
        members = {as_text(m) for m in await client.smembers(keys.followers(kari.id))}
        assert members == expected

        # A show two minutes out: its reminder is due at once, on both processes' ticks.
        start = int(time.time() * 1000) + 120_000
        room = await open_room(a, kari, live=False, scheduled_at=start)
        await receiver.wait_for(1)
        await _settled(client, room["id"], kari.id)
        started = await b.post(f"/api/v1/rooms/{room['id']}/start", headers=kari.headers)
        assert started.status_code == 200, started.text
        await receiver.wait_for(2)
        await _settled(client, room["id"], kari.id)

        bodies = [orjson.loads(r.body) for r in receiver.requests]
        assert [e["type"] for e in bodies] == ["show.reminder", "show.live"]
        assert len({e["id"] for e in bodies}) == 2
        assert all(e["data"]["followers"] == FANS // 2 for e in bodies)
        assert all(e["data"]["room"]["id"] == room["id"] for e in bodies)
    finally:
        await asyncio.gather(a.aclose(), b.aclose())
        await client.aclose()
