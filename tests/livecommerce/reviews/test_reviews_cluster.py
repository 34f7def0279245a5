"""Reviews on two server processes: the same buyer submits the same review from both at once,
strangers try the buyers' order ids on both, and exactly one review per order's product
stands, with ratings equal to a recount of what Redis holds.

People are signed in with tokens minted here (the servers' secret is the test's), so no
password is hashed; buyers check out for real (hold, card, order) before they rate.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from livecommerce.reviews.rules import Rating
from livecommerce.store import keys
from livecommerce.store.connection import as_strings
from tests.helpers import (
    PAID,
    User,
    add_product,
    join,
    minted,
    open_room,
    pay,
    reply_to,
    start_sale,
)
from tests.processes import ServerProcess, start_process

pytestmark = pytest.mark.multiprocess

SECRET = "review-secret-of-the-cluster-32by"
BUYERS = 6
STRANGERS = 4
TRIES = 4  # each buyer's submits, half on each process, all at once


@pytest.fixture
async def two_servers(redis_url: str, tmp_path: Path) -> AsyncIterator[list[ServerProcess]]:
    args = ["--redis-url", redis_url, "--secret", SECRET]
    servers = list(
        await asyncio.gather(
            start_process(tmp_path / "a", *args), start_process(tmp_path / "b", *args)
        )
    )
    yield servers
    await asyncio.gather(*(s.stop() for s in servers))


async def buy(
    http: httpx.AsyncClient, server: ServerProcess, room: Any, sale: Any, buyer: User
) -> Any:
    socket = await join(server.ws_url, room["id"], buyer)
    await socket.send({"type": "reserve", "sale_id": sale["id"], "quantity": 1, "ref": "r"})
    hold = (await reply_to(socket, "r"))["reservation"]
    await socket.close()
    paid = await pay(http, buyer, hold["id"], PAID, f"cluster-{buyer.id}")
    assert paid.status_code == 201, paid.text
    return paid.json()["order"]


async def test_one_review_per_order_product_whichever_process_and_whoever_asks(
    two_servers: list[ServerProcess], redis_url: str
) -> None:
    a, b = two_servers
    ada = minted("ada", SECRET)
    buyers = [minted(f"buyer{i}", SECRET) for i in range(BUYERS)]
    strangers = [minted(f"stranger{i}", SECRET) for i in range(STRANGERS)]
    async with (
        httpx.AsyncClient(base_url=a.http_url, timeout=30) as on_a,
        httpx.AsyncClient(base_url=b.http_url, timeout=30) as on_b,
    ):
        room = await open_room(on_a, ada)
        jumper = await add_product(on_a, ada)
        hosting = await join(a.ws_url, room["id"], ada)
        sale = await start_sale(hosting, jumper["id"], units=BUYERS, per_user_limit=1)
        orders = await asyncio.gather(
            *(buy(on_a if i % 2 else on_b, b if i % 2 else a, room, sale, buyer)
              for i, buyer in enumerate(buyers))
        )  # fmt: skip

        def submit(client: httpx.AsyncClient, who: User, order: Any, stars: int) -> Any:
            return client.put(
                f"/api/v1/orders/{order['id']}/reviews/{jumper['id']}",
                json={"product_rating": stars, "seller_rating": 6 - stars, "text": "Lovely"},
                headers=who.headers,
            )

        # Every buyer submits from both processes at once (the same review, then a change of
        # mind racing a retry); strangers try every buyer's order on both.
        tries = []
        for i, (buyer, order) in enumerate(zip(buyers, orders, strict=True)):
            for t in range(TRIES):
                tries.append(submit(on_a if t % 2 else on_b, buyer, order, 1 + (i + t // 2) % 5))
            for stranger in strangers:
                tries.append(submit(on_a, stranger, order, 5))
                tries.append(submit(on_b, stranger, order, 1))
        answers = await asyncio.gather(*tries)
        await hosting.close()

    per_buyer = TRIES + 2 * STRANGERS
    for i in range(BUYERS):
        mine = answers[i * per_buyer : i * per_buyer + TRIES]
        theirs = answers[i * per_buyer + TRIES : (i + 1) * per_buyer]
        assert sorted(r.status_code for r in mine) == [200] * (TRIES - 1) + [201]
        assert len({r.json()["review"]["id"] for r in mine}) == 1
        assert {r.json()["review"]["reviewer"]["id"] for r in mine} == {buyers[i].id}
        assert {(r.status_code, r.json()["code"]) for r in theirs} == {(404, "not_found")}

    client = aioredis.Redis.from_url(redis_url)
    try:
        stored = [orjson.loads(v) for v in (await client.hgetall(keys.reviews(ada.id))).values()]
        pairs = await client.hgetall(keys.review_pairs(ada.id))
        product = Rating.from_hash(
            as_strings(await client.hgetall(keys.product_rating(ada.id, jumper["id"])))
        )
        seller = Rating.from_hash(as_strings(await client.hgetall(keys.seller_rating(ada.id))))
    finally:
        await client.aclose()
    assert len(stored) == len(pairs) == BUYERS
    assert sorted(r["reviewer"]["id"] for r in stored) == sorted(u.id for u in buyers)
    assert sorted(r["order_id"] for r in stored) == sorted(o["id"] for o in orders)
    assert product == Rating.recount([r["product_rating"] for r in stored])
    assert seller == Rating.recount([r["seller_rating"] for r in stored])
