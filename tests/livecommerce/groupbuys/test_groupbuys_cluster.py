"""Group buys on two server processes: joins on both at once, and a kill -9 mid-fill and
mid-void. The survivor finishes every capture (or every void) exactly once, the units add
up, and every joiner of a filled group has exactly one paid order.

Joiners are signed in with server tokens minted here (the servers' secret is the test's).
Every wait is on an event or an answer with a deadline scaled by ``tests.conftest.timeout``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from livecommerce.store import keys
from livecommerce.store.connection import as_text
from tests.conftest import timeout
from tests.helpers import ADDRESS, PAID, User, add_product, join, minted, open_room, reply_to
from tests.processes import ServerProcess, start_process

pytestmark = pytest.mark.multiprocess

SECRET = "groupbuy-secret-of-the-cluster-32"


@pytest.fixture
async def two_servers(redis_url: str, tmp_path: Path) -> AsyncIterator[list[ServerProcess]]:
    args = ["--redis-url", redis_url, "--secret", SECRET]
    pair = await asyncio.gather(
        start_process(tmp_path / "a", *args), start_process(tmp_path / "b", *args)
    )
    yield list(pair)
    await asyncio.gather(*(s.stop() for s in pair))


async def join_on(server: ServerProcess, user: User, group_id: str, key: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=timeout(30)) as http:
        return await http.post(
            f"/api/v1/group-buys/{group_id}/join",
            json={"address": ADDRESS, "payment": PAID},
            headers={**user.headers, "Idempotency-Key": key},
        )


async def settled(client: aioredis.Redis, room_id: str, group_id: str) -> dict[str, Any]:
    """The group once nothing is left to settle (the survivor's ticker finishes the work)."""
    async with asyncio.timeout(timeout(60)):
        while True:
            fields = {
                as_text(k): as_text(v)
                for k, v in (await client.hgetall(keys.groupbuy_hash(room_id, group_id))).items()
            }
            todo = await client.scard(keys.groupbuy(room_id, group_id)[4])
            if fields.get("returned") == "1" and todo == 0:
                return fields
            await asyncio.sleep(0.1)  # polling the store: the survivor has no one to tell us


async def payments_of(client: aioredis.Redis, room_id: str, group_id: str) -> list[str]:
    """The provider's state of every authorisation the group's joins hold."""
    statuses = []
    for raw in (await client.hgetall(keys.groupbuy(room_id, group_id)[1])).values():
        join_record = json.loads(raw)
        if join_record["auth_ref"]:
            status = await client.hget(keys.payment(join_record["auth_ref"]), "status")
            statuses.append(as_text(status))
    return statuses


async def test_a_fill_survives_a_kill_of_the_process_that_filled_it(
    two_servers: list[ServerProcess], redis_url: str
) -> None:
    a, b = two_servers
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with httpx.AsyncClient(base_url=b.http_url, timeout=timeout(30)) as http:
            host = minted("ada", SECRET)
            room = await open_room(http, host)
            product = await add_product(http, host, sku="TEAPOT-X", stock=40)
            studio = await join(b.ws_url, room["id"], host)
            command = {
                "type": "groupbuy.start", "product_id": product["id"], "price": 2900,
                "min_buyers": 20, "units": 24, "duration_s": 600, "ref": "gb",
            }  # fmt: skip
            await studio.send(command)
            group = (await reply_to(studio, "gb"))["group"]
            gid = group["id"]

            joiners = [minted(f"joiner{i:02d}", SECRET) for i in range(28)]
            early = await asyncio.gather(
                *(join_on((a, b)[i % 2], u, gid, f"key-{u.id}") for i, u in enumerate(joiners[:19]))
            )
            assert [r.json()["join"]["state"] for r in early] == ["authorised"] * 19

            # The twentieth joins on A and fills the group; A dies as the room hears of it.
            filling = asyncio.create_task(join_on(a, joiners[19], gid, f"key-{joiners[19].id}"))
            await studio.expect("groupbuy.filled", lambda e: e["group_id"] == gid, wait=30)
            a.kill()
            await asyncio.gather(filling, return_exceptions=True)
            # Its joiner heard nothing, so retries on B with the same key: the same join.
            retried = await join_on(b, joiners[19], gid, f"key-{joiners[19].id}")
            assert retried.status_code == 201, retried.text

            late = await asyncio.gather(*(join_on(b, u, gid, f"key-{u.id}") for u in joiners[20:]))
            assert sorted(r.status_code for r in late) == [201] * 4 + [409] * 4
            fields = await settled(client, room["id"], gid)
            assert (fields["state"], fields["end_reason"]) == ("ended", "sold_out")
            assert (fields["captured"], fields["available"], fields["authorised"]) == (
                "24", "0", "0",
            )  # fmt: skip
            assert sorted(await payments_of(client, room["id"], gid)) == ["paid"] * 24
            orders = await client.zrange(keys.room_orders(room["id"]), 0, -1)
            assert len(orders) == 24
            buyers = set()
            for order_id in orders:
                raw = await client.get(keys.order(room["id"], as_text(order_id)))
                order = json.loads(raw or b"{}")
                buyers.add(order["buyer"]["id"])
            assert len(buyers) == 24, "one order per joiner"
            stock = (await http.get(f"/api/v1/products/{product['id']}")).json()["stock"]
            assert stock == 40 - 24
            await studio.close()
    finally:
        await client.aclose()


async def test_a_stop_survives_a_kill_of_the_process_voiding_it(
    two_servers: list[ServerProcess], redis_url: str
) -> None:
    a, b = two_servers
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with httpx.AsyncClient(base_url=b.http_url, timeout=timeout(30)) as http:
            host = minted("bea", SECRET)
            room = await open_room(http, host)
            product = await add_product(http, host, sku="KETTLE-X", stock=30)
            studio_a = await join(a.ws_url, room["id"], host)
            watcher = await join(b.ws_url, room["id"], host)
            command = {
                "type": "groupbuy.start", "product_id": product["id"], "price": 1900,
                "min_buyers": 20, "units": 20, "duration_s": 600, "ref": "gb",
            }  # fmt: skip
            await studio_a.send(command)
            gid = (await reply_to(studio_a, "gb"))["group"]["id"]
            joiners = [minted(f"voided{i:02d}", SECRET) for i in range(12)]
            joined = await asyncio.gather(
                *(join_on((a, b)[i % 2], u, gid, f"key-{u.id}") for i, u in enumerate(joiners))
            )
            assert [r.status_code for r in joined] == [201] * 12

            # The host stops it on A; A dies as the room hears the group has ended.
            await studio_a.send({"type": "groupbuy.stop", "group_id": gid, "ref": "stop"})
            await watcher.expect("groupbuy.ended", lambda e: e["group_id"] == gid, wait=30)
            a.kill()
            fields = await settled(client, room["id"], gid)
            assert (fields["state"], fields["captured"], fields["authorised"]) == (
                "stopped", "0", "0",
            )  # fmt: skip
            assert await payments_of(client, room["id"], gid) == ["voided"] * 12
            assert await client.zcard(keys.room_orders(room["id"])) == 0
            stock = (await http.get(f"/api/v1/products/{product['id']}")).json()["stock"]
            assert stock == 30
            await asyncio.gather(studio_a.close(), watcher.close())
    finally:
        await client.aclose()
