"""The demo keeps a flash sale running: whoever opens it, whenever, finds one on."""

from __future__ import annotations

import httpx

from livecommerce.demo import DEMO_SKU, SaleKeeper, create_demo
from livecommerce.server import Server
from tests.helpers import join
from tests.livecommerce.conftest import ServerFactory


class Clock:
    def __init__(self, now: float = 1_900_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_the_demo_starts_its_sale_again_when_the_ten_minutes_are_up(
    start_server: ServerFactory,
) -> None:
    clock = Clock()
    server = await start_server(clock=clock)
    _, room_id = await create_demo(server)
    keeper = SaleKeeper(server, room_id, every_s=0.02)
    keeper.start()
    guest = await join(server.ws_url, room_id)
    try:
        first = guest.seen[0]["sales"][0]
        lots = guest.seen[0]["auctions"]
        assert [(a["title"], a["state"], a["starting_bid"]) for a in lots] == [
            ("Alpaca scarf", "queued", 1000),
            ("Merino beanie", "queued", 500),
        ]
        clock.now += 601  # ten minutes on
        ended = await guest.expect("sale.ended", wait=10)
        assert (ended["sale_id"], ended["reason"]) == (first["id"], "time_up")
        again = (await guest.expect("sale.started", wait=10))["sale"]
        assert again["id"] != first["id"]
        assert again["product_id"] == first["product_id"]
        assert (again["units"], again["price"]) == (5, 2900)
        assert again["ends_at"] - again["starts_at"] == 600_000
        assert keeper.started == 1
    finally:
        await guest.close()
        await keeper.stop()


async def test_the_demo_restocks_its_product_when_earlier_sales_used_it_up(
    server: Server, http: httpx.AsyncClient
) -> None:
    tokens, room_id = await create_demo(server)
    assert server.catalog is not None
    assert server.rooms is not None
    room = await server.rooms.room(room_id)
    products, _ = await server.catalog.products(room.host_id, limit=100)
    jumper = next(p for p in products if p.sku == DEMO_SKU)
    await server.catalog.update_product(jumper, {"stock": 2}, 0)  # fewer than a sale's five
    guest = await join(server.ws_url, room_id)
    keeper = SaleKeeper(server, room_id, every_s=0.02)
    try:
        sale_id = guest.seen[0]["sales"][0]["id"]
        headers = {"Authorization": f"Bearer {tokens['creator']}"}
        stopped = await http.post(f"/api/v1/sales/{sale_id}/stop", headers=headers)
        assert stopped.status_code < 300, stopped.text
        await guest.expect("sale.ended")
        keeper.start()
        again = (await guest.expect("sale.started", wait=10))["sale"]
        assert again["units"] == 5
    finally:
        await keeper.stop()
        await guest.close()


async def test_the_keeper_leaves_an_ended_show_alone(
    server: Server, http: httpx.AsyncClient
) -> None:
    tokens, room_id = await create_demo(server)
    headers = {"Authorization": f"Bearer {tokens['creator']}"}
    ended = await http.post(f"/api/v1/rooms/{room_id}/end", headers=headers)
    assert ended.status_code == 200, ended.text
    keeper = SaleKeeper(server, room_id)
    assert await keeper.keep() is False
    assert keeper.started == 0
