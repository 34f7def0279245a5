"""Giveaways on two server processes: one entry per person whatever the sockets and processes
it comes from, one draw however many processes tick, and a crash that leaves it half done.

Entrants are signed in with server tokens minted here (the servers' secret is the test's).
Every wait is on an event with a deadline scaled by ``tests.conftest.timeout``; the only timed
wait is for the giveaway's own end to pass while one process is frozen.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from livecommerce.giveaways.rules import draw, sorted_entrants, verify
from livecommerce.giveaways.store import GiveawayStore
from livecommerce.store import keys
from livecommerce.store.history import entry_event
from tests.conftest import timeout
from tests.helpers import RoomSocket, User, add_product, join, minted, open_room, sign_up
from tests.livecommerce.giveaways.conftest import enter
from tests.processes import ServerProcess, start_process

pytestmark = pytest.mark.multiprocess

SECRET = "giveaway-secret-of-the-cluster-32"
PEOPLE = 30
SOCKETS_EACH = 2  # on each process


@pytest.fixture
async def two_servers(redis_url: str, tmp_path: Path) -> AsyncIterator[list[ServerProcess]]:
    args = ["--redis-url", redis_url, "--secret", SECRET]
    pair = await asyncio.gather(
        start_process(tmp_path / "a", *args), start_process(tmp_path / "b", *args)
    )
    yield list(pair)
    await asyncio.gather(*(s.stop() for s in pair))


async def ended_events(client: aioredis.Redis, room_id: str) -> list[dict[str, Any]]:
    """Every giveaway.ended in the room's stream: what every viewer is sent, in order."""
    entries: Any = await client.xrange(keys.room_events(room_id))
    decoded = [entry_event(entry_id, fields) for entry_id, fields in entries]
    return [e for e in decoded if e["type"] == "giveaway.ended"]


async def live_show(a: ServerProcess) -> tuple[httpx.AsyncClient, User, dict[str, Any], str]:
    http = httpx.AsyncClient(base_url=a.http_url, timeout=timeout(30))
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    product = await add_product(http, host, sku="YARN-9", title="Last skein", stock=1)
    return http, host, room, product["id"]


async def start_giveaway(studio: RoomSocket, product_id: str) -> dict[str, Any]:
    await studio.send({"type": "giveaway.start", "product_id": product_id, "kind": "standard",
                       "duration_s": 10, "ref": "start"})  # fmt: skip
    answer = await studio.expect("ack")
    giveaway: dict[str, Any] = answer["giveaway"]
    return giveaway


async def test_many_sockets_of_one_person_on_two_processes_make_one_entry_and_one_draw(
    two_servers: list[ServerProcess], redis_url: str
) -> None:
    a, b = two_servers
    http, host, room, product_id = await live_show(a)
    people = [minted(f"fan{i:02d}", SECRET) for i in range(PEOPLE)]
    sockets = await asyncio.gather(
        *(
            join(server.ws_url, room["id"], person, max_queue=None)
            for person in people
            for server in (a, b)
            for _ in range(SOCKETS_EACH)
        )
    )
    studio = await join(a.ws_url, room["id"], host)
    giveaway = await start_giveaway(studio, product_id)

    answers = await asyncio.gather(
        *(enter(s, giveaway["id"], f"e{i}") for i, s in enumerate(sockets))
    )
    assert all(x["type"] == "ack" and x["entered"] for x in answers), answers
    assert sum(not x["repeated"] for x in answers) == PEOPLE  # one entry each, the rest repeats
    assert max(x["count"] for x in answers) == PEOPLE

    client = aioredis.Redis.from_url(redis_url)
    try:
        _, entries_key, _ = keys.giveaway(room["id"], giveaway["id"])
        assert await client.hlen(entries_key) == PEOPLE
        watchers = [sockets[0], sockets[SOCKETS_EACH]]  # one on each process
        told = [await w.expect("giveaway.ended", wait=30) for w in watchers]
        assert told[0] == told[1]
        member = f"{room['id']} {giveaway['id']}"
        async with asyncio.timeout(timeout(10)):
            while True:
                if await client.zscore(keys.active_giveaways(), member) is None:
                    break
                await asyncio.sleep(0.05)  # polling a condition, with the deadline above
        assert await ended_events(client, room["id"]) == [told[0]]
        orders = await client.zrange(keys.room_orders(room["id"]), 0, -1)
        assert len(orders) == 1
    finally:
        await client.aclose()

    published = (await http.get(f"{b.http_url}/api/v1/giveaways/{giveaway['id']}")).json()
    result = published["result"]
    assert result["entrant_ids"] == sorted_entrants([p.id for p in people])
    assert result["winner"] == told[0]["winner"]
    assert verify(
        giveaway["commitment"], result["seed"], result["entrant_ids"], result["winner"]["id"]
    )
    assert published["entrants"] == PEOPLE
    await asyncio.gather(*(s.close() for s in [*sockets, studio]))
    await http.aclose()


async def test_a_process_killed_mid_giveaway_and_a_closer_dead_before_its_draw_still_end_it_once(
    two_servers: list[ServerProcess], redis_url: str
) -> None:
    """A takes the start and some entries and is killed (-9) mid-giveaway; B, frozen through
    the end, finds the entries closed by a closer that died before drawing (the test closes
    them as that closer would); B thawed must draw the same winner and publish it once."""
    a, b = two_servers
    http, host, room, product_id = await live_show(a)
    people = [minted(f"entrant{i}", SECRET) for i in range(8)]
    studio = await join(a.ws_url, room["id"], host)
    on_a = [await join(a.ws_url, room["id"], p, max_queue=None) for p in people[:4]]
    on_b = [await join(b.ws_url, room["id"], p, max_queue=None) for p in people[4:]]
    giveaway = await start_giveaway(studio, product_id)
    for i, socket in enumerate(on_a + on_b):
        assert (await enter(socket, giveaway["id"], f"e{i}"))["type"] == "ack"
    watcher = await join(b.ws_url, room["id"], max_queue=None)

    a.kill()
    await a.process.wait()
    b.process.send_signal(signal.SIGSTOP)  # from here on nobody can close it but the test
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert time.time() * 1000 < giveaway["ends_at"], "too slow to freeze B before the end"
        await asyncio.sleep(giveaway["ends_at"] / 1000 - time.time() + 0.2)  # the end passes
        dying = GiveawayStore(client, stream_max_len=1000)
        closed = await dying.close(room["id"], giveaway["id"], "time_up", int(time.time() * 1000))
        assert closed.status == 2  # entries closed, and then the closer "died"
        expected = draw(closed.seed, closed.entrants)
    finally:
        b.process.send_signal(signal.SIGCONT)
    try:
        ended = await watcher.expect("giveaway.ended", wait=30)
        assert ended["winner"]["id"] == expected
        assert ended["entrants"] == len(people)
        member = f"{room['id']} {giveaway['id']}"
        async with asyncio.timeout(timeout(10)):
            while True:
                if await client.zscore(keys.active_giveaways(), member) is None:
                    break
                await asyncio.sleep(0.05)  # polling a condition, with the deadline above
        assert await ended_events(client, room["id"]) == [ended]
        assert len(await client.zrange(keys.room_orders(room["id"]), 0, -1)) == 1
    finally:
        await client.aclose()
    result = (await http.get(f"{b.http_url}/api/v1/giveaways/{giveaway['id']}")).json()["result"]
    assert verify(giveaway["commitment"], result["seed"], result["entrant_ids"], expected)
    winner = next(p for p in people if p.id == expected)
    mine = await http.get(f"{b.http_url}/api/v1/orders", headers=winner.headers)
    assert [o["giveaway_id"] for o in mine.json()["orders"]] == [giveaway["id"]]
    for socket in [*on_b, watcher]:
        await socket.close()
    await http.aclose()
