"""A buyer pays for a hold; the order is kept, once, whatever the retries."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from typing import Any

import httpx
import orjson
import pytest

from livecommerce.server import Server
from livecommerce.webhooks import verify_signature
from tests.conftest import timeout
from tests.helpers import RoomSocket, User, join, open_room, sign_up
from tests.livecommerce.conftest import ServerFactory
from tests.livecommerce.test_selling import FakeClock, _by_ref, add_product, start_sale
from tests.receivers import StartReceiver

ADDRESS = {
    "name": "Kari Nordmann",
    "line1": "Storgata 1",
    "postal_code": "0155",
    "city": "Oslo",
    "country": "no",
}
PAID = {"card_number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
DECLINED = {**PAID, "card_number": "4000000000000002"}


async def hold_for(
    server: Server, room: dict[str, Any], sale: dict[str, Any], buyer: User
) -> dict[str, Any]:
    socket = await join(server.ws_url, room["id"], buyer)
    await socket.send({"type": "reserve", "sale_id": sale["id"], "quantity": 1, "ref": "r"})
    answer = await _by_ref(socket, "r")
    assert answer["type"] == "reservation", answer
    reservation: dict[str, Any] = answer["reservation"]
    return reservation


async def pay(
    http: httpx.AsyncClient, buyer: User, hold_id: str, card: dict[str, Any], key: str
) -> httpx.Response:
    return await http.post(
        f"/api/v1/reservations/{hold_id}/checkout",
        json={"address": ADDRESS, "payment": card},
        headers={**buyer.headers, "Idempotency-Key": key},
    )


@pytest.fixture
async def sale_on(
    server: Server, http: httpx.AsyncClient
) -> tuple[User, dict[str, Any], RoomSocket, dict[str, Any]]:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    product = await add_product(http, host)
    hosting = await join(server.ws_url, room["id"], host)
    sale = await start_sale(hosting, product["id"], units=2, price=2900)
    return host, room, hosting, sale


async def test_a_buyer_is_declined_then_pays_and_the_host_sees_the_order(
    server: Server, http: httpx.AsyncClient, sale_on: Any
) -> None:
    host, room, hosting, sale = sale_on
    kari = await sign_up(http, "Kari")
    hold = await hold_for(server, room, sale, kari)

    declined = await pay(http, kari, hold["id"], DECLINED, "attempt-0001")
    assert (declined.status_code, declined.json()["code"]) == (402, "payment_declined")
    still = await http.get(f"/api/v1/reservations/{hold['id']}", headers=kari.headers)
    assert still.json()["state"] == "held"  # a declined card keeps the hold

    paid = await pay(http, kari, hold["id"], PAID, "attempt-0002")
    assert paid.status_code == 201, paid.text
    order = paid.json()["order"]
    assert (order["state"], order["amount"], order["currency"]) == ("paid", 2900, "EUR")
    assert order["lines"][0]["quantity"] == 1
    assert order["shipping"]["country"] == "NO"
    assert order["payment"]["last4"] == "4242"
    assert "4242424242424242" not in paid.text

    again = await pay(http, kari, hold["id"], PAID, "attempt-0002")
    assert (again.status_code, again.json()["order"]["id"]) == (201, order["id"])
    other_key = await pay(http, kari, hold["id"], PAID, "attempt-0003")
    assert other_key.json()["order"]["id"] == order["id"]  # one order per hold, whatever the key

    live = await hosting.expect("order.created")
    assert live["order"]["id"] == order["id"]
    status = (await http.get(f"/api/v1/sales/{sale['id']}")).json()
    assert (status["available"], status["held"], status["sold"]) == (1, 0, 1)

    mine = (await http.get("/api/v1/orders", headers=kari.headers)).json()["orders"]
    assert [o["id"] for o in mine] == [order["id"]]
    listed = (await http.get(f"/api/v1/rooms/{room['id']}/orders", headers=host.headers)).json()[
        "orders"
    ]
    assert [o["id"] for o in listed] == [order["id"]]
    exported = await http.get(f"/api/v1/rooms/{room['id']}/orders.csv", headers=host.headers)
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["id"], r["amount"], r["city"]) for r in rows] == [(order["id"], "2900", "Oslo")]

    refunded = await http.post(f"/api/v1/orders/{order['id']}/refund", headers=host.headers)
    assert refunded.json()["state"] == "refunded"
    assert (
        await http.post(f"/api/v1/orders/{order['id']}/refund", headers=host.headers)
    ).status_code == 200


async def test_the_last_unit_sold_ends_the_sale(
    server: Server, http: httpx.AsyncClient, sale_on: Any
) -> None:
    _host, room, hosting, sale = sale_on
    for name in ("One", "Two"):
        buyer = await sign_up(http, name)
        hold = await hold_for(server, room, sale, buyer)
        assert (await pay(http, buyer, hold["id"], PAID, f"key-{name}-0001")).status_code == 201
    ended = await hosting.expect("sale.ended")
    assert (ended["sale_id"], ended["reason"]) == (sale["id"], "sold_out")


async def test_someone_elses_hold_a_released_hold_and_bad_bodies(
    server: Server, http: httpx.AsyncClient, sale_on: Any
) -> None:
    _host, room, _hosting, sale = sale_on
    kari, mallory = await sign_up(http, "Kari"), await sign_up(http, "Mallory")
    hold = await hold_for(server, room, sale, kari)
    stolen = await pay(http, mallory, hold["id"], PAID, "steal-0001")
    assert (stolen.status_code, stolen.json()["code"]) == (403, "forbidden")
    for body, key in (
        ({"address": ADDRESS}, "k-0000001"),
        ({"address": {**ADDRESS, "country": "Norway"}, "payment": PAID}, "k-0000002"),
        ({"address": ADDRESS, "payment": {**PAID, "card_number": "4242424242424241"}}, "k-0000003"),
        ({"address": ADDRESS, "payment": PAID}, "short"),
    ):
        answer = await http.post(
            f"/api/v1/reservations/{hold['id']}/checkout",
            json=body,
            headers={**kari.headers, "Idempotency-Key": key},
        )
        assert answer.status_code == 400, (body, answer.text)
    forged = await pay(http, kari, "s_forged.x", PAID, "forged-0001")
    assert forged.status_code == 404
    assert (
        await http.delete(f"/api/v1/reservations/{hold['id']}", headers=kari.headers)
    ).status_code == 200
    late = await pay(http, kari, hold["id"], PAID, "late-00001")
    assert (late.status_code, late.json()["code"]) == (409, "hold_released")


@pytest.mark.parametrize("field", ["exp_year", "exp_month"])
async def test_a_card_expiry_of_five_thousand_digits_is_refused_naming_it_and_the_buyer_pays(
    server: Server, http: httpx.AsyncClient, sale_on: Any, field: str
) -> None:
    _host, room, _hosting, sale = sale_on
    kari = await sign_up(http, "Kari")
    hold = await hold_for(server, room, sale, kari)
    huge = await pay(http, kari, hold["id"], {**PAID, field: "1" * 5000}, "huge-00001")
    assert (huge.status_code, huge.json()["code"]) == (400, "bad_request")
    assert f"'{field}'" in huge.json()["detail"]
    paid = await pay(http, kari, hold["id"], PAID, "fixed-0001")  # the same connection
    assert paid.status_code == 201, paid.text


async def test_an_expired_hold_cannot_be_bought(start_server: ServerFactory) -> None:
    clock = FakeClock()
    server = await start_server(clock=clock)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
        product = await add_product(http, host)
        hosting = await join(server.ws_url, room["id"], host)
        sale = await start_sale(hosting, product["id"], units=1, hold_s=30)
        kari = await sign_up(http, "Kari")
        hold = await hold_for(server, room, sale, kari)
        clock.advance(31)
        answer = await pay(http, kari, hold["id"], PAID, str(uuid.uuid4()))
        assert (answer.status_code, answer.json()["code"]) == (409, "hold_expired")
        status = (await http.get(f"/api/v1/sales/{sale['id']}")).json()
        assert (status["available"], status["held"], status["sold"]) == (1, 0, 0)


async def test_the_merchant_backend_gets_signed_webhooks(
    server: Server, http: httpx.AsyncClient, start_receiver: StartReceiver
) -> None:
    receiver = await start_receiver()
    host = await sign_up(http, "Ada")
    added = await http.post("/api/v1/webhooks", json={"url": receiver.url}, headers=host.headers)
    assert added.status_code == 201, added.text
    secret = added.json()["secret"]
    room = await open_room(http, host)
    product = await add_product(http, host)
    hosting = await join(server.ws_url, room["id"], host)
    sale = await start_sale(hosting, product["id"], units=1)
    kari = await sign_up(http, "Kari")
    hold = await hold_for(server, room, sale, kari)
    order = (await pay(http, kari, hold["id"], PAID, "hook-000001")).json()["order"]
    await http.post(f"/api/v1/orders/{order['id']}/refund", headers=host.headers)

    received = await receiver.wait_for(4, wait=15)
    kinds = {}
    for request in received:
        verify_signature(
            secret, request.headers["livecommerce-signature"], request.body, time.time()
        )
        event = orjson.loads(request.body)
        kinds[event["type"]] = event
    assert set(kinds) == {"sale.started", "sale.ended", "order.created", "order.refunded"}
    assert kinds["order.created"]["data"]["id"] == order["id"]
    assert kinds["sale.ended"]["data"]["reason"] == "sold_out"
    log = (await http.get("/api/v1/webhooks/deliveries", headers=host.headers)).json()
    assert len(log["deliveries"]) >= 4


async def test_a_sold_out_sale_frees_its_product_at_once_not_when_its_time_is_up(
    server: Server, http: httpx.AsyncClient
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    product = await add_product(http, host, sku="ONE-LAMP", stock=1)
    hosting = await join(server.ws_url, room["id"], host)
    sale = await start_sale(hosting, product["id"], units=1, duration_s=3600)
    kari = await sign_up(http, "Kari")
    buyer = await join(server.ws_url, room["id"], kari)
    await buyer.send({"type": "reserve", "sale_id": sale["id"], "quantity": 1, "ref": "r"})
    hold = (await _by_ref(buyer, "r"))["reservation"]
    paid = await pay(http, kari, hold["id"], PAID, "pay-lamp")
    assert paid.status_code == 201, paid.text
    await hosting.expect("sale.ended", lambda e: e["sale_id"] == sale["id"])
    async with asyncio.timeout(timeout(5)):
        while (  # noqa: ASYNC110
            await http.delete(f"/api/v1/products/{product['id']}", headers=host.headers)
        ).status_code == 409:
            await asyncio.sleep(0.05)
    gone = await http.get(f"/api/v1/products/{product['id']}")
    assert gone.status_code == 404
