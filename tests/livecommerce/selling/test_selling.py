"""A creator pins a product and runs a flash sale; viewers buy, or hear exactly why not."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from livecommerce.server import Server
from tests.conftest import timeout
from tests.helpers import (
    FakeClock,
    RoomSocket,
    User,
    add_product,
    join,
    open_room,
    reply_to,
    sign_up,
    start_sale,
)
from tests.livecommerce.conftest import ServerFactory


@pytest.fixture
async def show(
    server: Server, http: httpx.AsyncClient
) -> tuple[User, dict[str, Any], RoomSocket, dict[str, Any]]:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    product = await add_product(http, host)
    hosting = await join(server.ws_url, room["id"], host)
    return host, room, hosting, product


async def test_the_host_pins_and_every_viewer_sees_the_card(
    server: Server, http: httpx.AsyncClient, show: Any
) -> None:
    _host, room, hosting, product = show
    viewer = await join(server.ws_url, room["id"])
    await hosting.send({"type": "pin", "product_id": product["id"], "ref": "p"})
    assert (await reply_to(hosting, "p"))["type"] == "ack"
    pinned = await viewer.expect("product.pinned")
    assert pinned["product"]["title"] == "Wool jumper"
    assert (pinned["product"]["price"], pinned["product"]["currency"]) == (4900, "EUR")

    late = await join(server.ws_url, room["id"])
    assert late.seen[0]["pinned"]["id"] == product["id"]

    await hosting.send({"type": "unpin", "ref": "u"})
    await viewer.expect("product.unpinned")
    assert (await join(server.ws_url, room["id"])).seen[0]["pinned"] is None


async def test_a_flash_sale_sells_exactly_its_units(
    server: Server, http: httpx.AsyncClient, show: Any
) -> None:
    _host, room, hosting, product = show
    watcher = await join(server.ws_url, room["id"])
    sale = await start_sale(hosting, product["id"], units=3)
    started = await watcher.expect("sale.started")
    assert started["sale"]["id"] == sale["id"]
    assert (started["sale"]["available"], started["sale"]["price"]) == (3, 2900)
    assert started["sale"]["ends_at"] - started["sale"]["starts_at"] == 60_000

    buyers = [await sign_up(http, f"Buyer{i}") for i in range(5)]
    sockets = [await join(server.ws_url, room["id"], b) for b in buyers]
    for i, socket in enumerate(sockets):
        await socket.send(
            {"type": "reserve", "sale_id": sale["id"], "quantity": 1, "key": "buy", "ref": f"r{i}"}
        )
    answers = [await reply_to(s, f"r{i}") for i, s in enumerate(sockets)]
    held = [a for a in answers if a["type"] == "reservation"]
    refused = [a for a in answers if a["type"] == "error"]
    assert len(held) == 3
    assert [a["code"] for a in refused] == ["sold_out", "sold_out"]
    for answer in held:
        reservation = answer["reservation"]
        assert (reservation["quantity"], reservation["state"]) == (1, "held")
        assert reservation["expires_at"] > started["sale"]["starts_at"]

    stock = await watcher.expect("sale.stock", lambda e: e["available"] == 0)
    assert (stock["held"], stock["sold"]) == (3, 0)
    status = (await http.get(f"/api/v1/sales/{sale['id']}")).json()
    assert (status["available"], status["held"], status["sold"], status["units"]) == (0, 3, 0, 3)


async def test_a_double_click_gets_the_same_hold(
    server: Server, http: httpx.AsyncClient, show: Any
) -> None:
    _host, room, hosting, product = show
    sale = await start_sale(hosting, product["id"], units=5, per_user_limit=2)
    buyer = await join(server.ws_url, room["id"], await sign_up(http, "Quick"))
    for ref in ("a", "b"):
        await buyer.send(
            {"type": "reserve", "sale_id": sale["id"], "quantity": 1, "key": "click-1", "ref": ref}
        )
    first, second = await reply_to(buyer, "a"), await reply_to(buyer, "b")
    assert first["reservation"]["id"] == second["reservation"]["id"]
    assert (first["repeated"], second["repeated"]) == (False, True)
    status = (await http.get(f"/api/v1/sales/{sale['id']}")).json()
    assert status["held"] == 1


async def test_an_operator_who_turns_the_reserve_limit_off_lets_a_fast_buyer_buy(
    start_server: ServerFactory,
) -> None:
    """``--limit-reserve 0`` means no limit (it used to divide by zero on every reserve)."""
    server = await start_server(limit_reserve="0", max_holds=0)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
        product = await add_product(http, host)
        hosting = await join(server.ws_url, room["id"], host)
        sale = await start_sale(hosting, product["id"], units=30, per_user_limit=30)
        buyer = await join(server.ws_url, room["id"], await sign_up(http, "Quick"))
        for n in range(20):  # well past the default burst of 10
            await buyer.send({"type": "reserve", "sale_id": sale["id"], "ref": str(n)})
        answers = [await reply_to(buyer, str(n)) for n in range(20)]
        assert [(a["type"], a.get("code")) for a in answers] == [("reservation", None)] * 20


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ({"quantity": 0}, "bad_request"),
        ({"quantity": -1}, "bad_request"),
        ({"quantity": 1.5}, "bad_request"),
        ({"quantity": "1"}, "bad_request"),
        ({"quantity": 2}, "limit_exceeded"),
        ({"sale_id": "s_forged"}, "not_found"),
        ({"sale_id": 7}, "bad_request"),
        ({"key": "x|y"}, "bad_request"),
    ],
)
async def test_bad_buys_get_a_distinct_error(
    server: Server, http: httpx.AsyncClient, show: Any, command: dict[str, Any], code: str
) -> None:
    _host, room, hosting, product = show
    sale = await start_sale(hosting, product["id"], units=5, per_user_limit=1)
    buyer = await join(server.ws_url, room["id"], await sign_up(http, "Tester"))
    await buyer.send(
        {"type": "reserve", "sale_id": sale["id"], "quantity": 1, "ref": "x", **command}
    )
    answer = await reply_to(buyer, "x")
    assert (answer["type"], answer["code"]) == ("error", code)


async def test_buying_after_the_sale_or_as_a_guest(
    server: Server, http: httpx.AsyncClient, show: Any
) -> None:
    _host, room, hosting, product = show
    sale = await start_sale(hosting, product["id"])
    guest = await join(server.ws_url, room["id"])
    await guest.send({"type": "reserve", "sale_id": sale["id"], "quantity": 1, "ref": "g"})
    assert (await reply_to(guest, "g"))["code"] == "unauthorized"

    await hosting.send({"type": "sale.stop", "sale_id": sale["id"], "ref": "stop"})
    assert (await reply_to(hosting, "stop"))["type"] == "ack"
    ended = await guest.expect("sale.ended")
    assert (ended["sale_id"], ended["reason"]) == (sale["id"], "stopped")
    buyer = await join(server.ws_url, room["id"], await sign_up(http, "Late"))
    await buyer.send({"type": "reserve", "sale_id": sale["id"], "quantity": 1, "ref": "late"})
    assert (await reply_to(buyer, "late"))["code"] == "sale_not_active"


async def test_a_late_viewer_is_told_why_the_pinned_product_has_no_buy(
    server: Server, http: httpx.AsyncClient, show: Any
) -> None:
    _host, room, hosting, product = show
    other = await add_product(http, _host, sku="CAP-1", title="Wool cap")
    await hosting.send({"type": "pin", "product_id": product["id"], "ref": "p"})
    assert (await reply_to(hosting, "p"))["type"] == "ack"
    sale = await start_sale(hosting, product["id"])
    await hosting.send({"type": "sale.stop", "sale_id": sale["id"], "ref": "stop"})
    assert (await reply_to(hosting, "stop"))["type"] == "ack"

    # The product stays pinned after its sale: a viewer who comes in now learns it ended.
    late = await join(server.ws_url, room["id"])
    told = [(s["id"], s["state"], s["end_reason"]) for s in late.seen[0]["sales"]]
    assert told == [(sale["id"], "ended", "stopped")]

    # Another product pinned: the ended sale is nobody's business any more.
    await hosting.send({"type": "pin", "product_id": other["id"], "ref": "p2"})
    assert (await reply_to(hosting, "p2"))["type"] == "ack"
    assert (await join(server.ws_url, room["id"])).seen[0]["sales"] == []


async def test_a_viewer_cannot_send_host_commands(
    server: Server, http: httpx.AsyncClient, show: Any
) -> None:
    _host, room, hosting, product = show
    sale = await start_sale(hosting, product["id"])
    mallory = await join(server.ws_url, room["id"], await sign_up(http, "Mallory"))
    for command in (
        {"type": "pin", "product_id": product["id"]},
        {"type": "unpin"},
        {"type": "sale.start", "product_id": product["id"], "price": 1, "units": 1},
        {"type": "sale.stop", "sale_id": sale["id"]},
    ):
        await mallory.send({**command, "ref": command["type"]})
        assert (await reply_to(mallory, command["type"]))["code"] == "forbidden", command


async def test_a_host_cannot_sell_more_than_stock_or_a_product_of_someone_else(
    server: Server, http: httpx.AsyncClient, show: Any
) -> None:
    _host, _room, hosting, product = show
    await hosting.send(
        {"type": "sale.start", "product_id": product["id"], "price": 1, "units": 51, "ref": "big"}
    )
    assert (await reply_to(hosting, "big"))["code"] == "bad_request"
    other = await sign_up(http, "Other")
    theirs = await add_product(http, other, sku="THEIRS")
    await hosting.send(
        {"type": "sale.start", "product_id": theirs["id"], "price": 1, "units": 1, "ref": "t"}
    )
    assert (await reply_to(hosting, "t"))["code"] == "forbidden"
    await hosting.send(
        {"type": "sale.start", "product_id": product["id"], "price": -5, "units": 1, "ref": "n"}
    )
    assert (await reply_to(hosting, "n"))["code"] == "bad_request"


async def test_released_units_go_to_the_waitlist_in_order(
    server: Server, http: httpx.AsyncClient, show: Any
) -> None:
    _host, room, hosting, product = show
    sale = await start_sale(hosting, product["id"], units=1)
    first = await join(server.ws_url, room["id"], await sign_up(http, "First"))
    second = await join(server.ws_url, room["id"], await sign_up(http, "Second"))
    await first.send({"type": "reserve", "sale_id": sale["id"], "quantity": 1, "ref": "r"})
    hold = (await reply_to(first, "r"))["reservation"]
    await second.send({"type": "reserve", "sale_id": sale["id"], "quantity": 1, "ref": "r"})
    assert (await reply_to(second, "r"))["code"] == "sold_out"
    await second.send({"type": "waitlist.join", "sale_id": sale["id"], "quantity": 1, "ref": "w"})
    assert (await reply_to(second, "w"))["waitlist_position"] == 1

    await first.send({"type": "release", "reservation_id": hold["id"], "ref": "rel"})
    assert (await reply_to(first, "rel"))["reservation"]["state"] == "released"
    offered = await second.expect("reservation")
    assert offered["reservation"]["from_waitlist"] is True
    assert offered["reservation"]["quantity"] == 1
    # The offer is private: the first buyer never sees it.
    await first.send({"type": "ping", "ref": "p"})
    await reply_to(first, "p")
    assert not any(e["type"] == "reservation" and "ref" not in e for e in first.seen)


async def test_a_sale_ends_by_itself_when_time_is_up(start_server: ServerFactory) -> None:
    clock = FakeClock()
    server = await start_server(clock=clock)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
        product = await add_product(http, host)
    hosting = await join(server.ws_url, room["id"], host)
    sale = await start_sale(hosting, product["id"], duration_s=30)
    clock.advance(31)
    ended = await hosting.expect("sale.ended", wait=5)
    assert (ended["sale_id"], ended["reason"]) == (sale["id"], "time_up")


async def test_a_sale_takes_its_units_from_stock_and_gives_the_unsold_back(
    server: Server, http: httpx.AsyncClient
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    product = await add_product(http, host, sku="ONE-MUG", stock=3)
    hosting = await join(server.ws_url, room["id"], host)
    sale = await start_sale(hosting, product["id"], units=3)
    stock = (await http.get(f"/api/v1/products/{product['id']}")).json()["stock"]
    assert stock == 0  # the units now belong to the sale
    await hosting.send(
        {"type": "sale.start", "product_id": product["id"], "price": 1, "units": 1, "ref": "2"}
    )
    refused = await reply_to(hosting, "2")
    assert (refused["code"], refused["message"]) == (
        "bad_request",
        "only 0 in stock; a sale cannot offer 1",
    )

    buyer = await join(server.ws_url, room["id"], await sign_up(http, "Kari"))
    await buyer.send({"type": "reserve", "sale_id": sale["id"], "quantity": 1, "ref": "r"})
    hold = (await reply_to(buyer, "r"))["reservation"]
    await hosting.send({"type": "sale.stop", "sale_id": sale["id"], "ref": "stop"})
    await reply_to(hosting, "stop")
    # The sale settles with its product once it has ended and no hold is left.
    await buyer.send({"type": "release", "reservation_id": hold["id"], "ref": "rel"})
    await reply_to(buyer, "rel")
    async with asyncio.timeout(timeout(5)):
        # The sale ticker settles on its own; polling the product is all a client can do.
        while (await http.get(f"/api/v1/products/{product['id']}")).json()["stock"] != 3:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_a_product_in_a_running_sale_cannot_be_deleted_until_the_sale_is_over(
    server: Server, http: httpx.AsyncClient
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    product = await add_product(http, host, sku="LAST-SCARF", stock=2)
    hosting = await join(server.ws_url, room["id"], host)
    sale = await start_sale(hosting, product["id"], units=2)

    refused = await http.delete(f"/api/v1/products/{product['id']}", headers=host.headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "product_on_sale"

    await hosting.send({"type": "sale.stop", "sale_id": sale["id"], "ref": "stop"})
    assert (await reply_to(hosting, "stop"))["type"] == "ack"
    async with asyncio.timeout(timeout(5)):
        # The ticker settles the ended sale; the product's stock coming back shows it.
        while (await http.get(f"/api/v1/products/{product['id']}")).json()["stock"] != 2:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    deleted = await http.delete(f"/api/v1/products/{product['id']}", headers=host.headers)
    assert deleted.status_code == 204
