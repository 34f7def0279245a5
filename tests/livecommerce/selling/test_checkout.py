"""A buyer pays for a hold; the order is kept, once, whatever the retries."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from livecommerce.selling.ledger import OpenCharge
from livecommerce.selling.payments import parse_card
from livecommerce.server import Server
from livecommerce.store import keys
from livecommerce.webhooks.rules import verify_signature
from tests.conftest import SharedStore, timeout
from tests.helpers import (
    ADDRESS,
    PAID,
    FakeClock,
    RoomSocket,
    User,
    add_product,
    hold_for,
    join,
    open_room,
    pay,
    reply_to,
    sign_up,
    start_sale,
)
from tests.livecommerce.conftest import ServerFactory
from tests.processes import ServerProcess, start_process
from tests.receivers import StartReceiver

DECLINED = {**PAID, "card_number": "4000000000000002"}
SLOW_ANSWER = {**PAID, "card_number": "4000000000000077"}  # charged at once, answered late
T = TypeVar("T")


async def open_sale(
    server: Server, http: httpx.AsyncClient, **fields: Any
) -> tuple[User, dict[str, Any], dict[str, Any], RoomSocket, dict[str, Any]]:
    """Ada opens a show, adds a product and starts a flash sale of it from her studio."""
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    product = await add_product(http, host)
    hosting = await join(server.ws_url, room["id"], host)
    sale = await start_sale(hosting, product["id"], **fields)
    return host, room, product, hosting, sale


@pytest.fixture
async def sale_on(
    server: Server, http: httpx.AsyncClient
) -> tuple[User, dict[str, Any], RoomSocket, dict[str, Any]]:
    host, room, _, hosting, sale = await open_sale(server, http, units=2, price=2900)
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


async def test_a_buyer_who_comes_back_finds_their_hold_and_what_they_bought(
    server: Server, http: httpx.AsyncClient
) -> None:
    _host, room, _product, _hosting, sale = await open_sale(server, http, units=5, per_user_limit=2)
    kari = await sign_up(http, "Kari")

    # Kari buys one, then holds a second: her limit is used up.
    first = await hold_for(server, room, sale, kari)
    assert (await pay(http, kari, first["id"], PAID, "attempt-back-1")).status_code == 201
    page = await join(server.ws_url, room["id"], kari)
    await page.send({"type": "reserve", "sale_id": sale["id"], "quantity": 1, "ref": "r"})
    second = (await reply_to(page, "r"))["reservation"]

    # She reloads the page (a new socket): her welcome brings back the open hold and the
    # unit she bought, so the card shows the timer instead of "limit reached".
    reloaded = await join(server.ws_url, room["id"], kari)
    you = reloaded.seen[0]["you"]
    assert [h["id"] for h in you["holds"]] == [second["id"]]
    assert you["holds"][0]["expires_at"] == second["expires_at"]
    assert you["holds"][0]["state"] == "held"
    assert you["bought"] == {sale["id"]: 1}

    # Nobody else's welcome carries them: another buyer's has nothing, a guest's no fields.
    other = await join(server.ws_url, room["id"], await sign_up(http, "Ola"))
    assert (other.seen[0]["you"]["holds"], other.seen[0]["you"]["bought"]) == ([], {})
    guest = await join(server.ws_url, room["id"])
    assert "holds" not in guest.seen[0]["you"]
    assert "bought" not in guest.seen[0]["you"]

    # Given back, the hold is gone from her next welcome; what she bought stays.
    await page.send({"type": "release", "reservation_id": second["id"], "ref": "rel"})
    assert (await reply_to(page, "rel"))["type"] == "ack"
    again = await join(server.ws_url, room["id"], kari)
    assert (again.seen[0]["you"]["holds"], again.seen[0]["you"]["bought"]) == (
        [],
        {sale["id"]: 1},
    )


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
        # Coming back now, her welcome no longer offers the hold.
        back = await join(server.ws_url, room["id"], kari)
        assert back.seen[0]["you"]["holds"] == []
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

    received = await receiver.wait_for(5, wait=15)  # the show's going live is one of them
    kinds = {}
    for request in received:
        verify_signature(
            secret, request.headers["livecommerce-signature"], request.body, time.time()
        )
        event = orjson.loads(request.body)
        kinds[event["type"]] = event
    assert set(kinds) == {
        "show.live",
        "sale.started",
        "sale.ended",
        "order.created",
        "order.refunded",
    }
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
    hold = (await reply_to(buyer, "r"))["reservation"]
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


async def test_a_moderator_cannot_refund_not_even_their_own_order_and_the_host_sees_the_try(
    server: Server, http: httpx.AsyncClient, sale_on: Any
) -> None:
    host, room, _hosting, sale = sale_on
    mo = await sign_up(http, "Mo")
    appointed = await http.put(
        f"/api/v1/rooms/{room['id']}/moderators/{mo.id}", headers=host.headers
    )
    assert appointed.status_code == 200, appointed.text
    hold = await hold_for(server, room, sale, mo)
    order = (await pay(http, mo, hold["id"], PAID, "mo-buys-0001")).json()["order"]

    refused = await http.post(f"/api/v1/orders/{order['id']}/refund", headers=mo.headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    mine = (await http.get("/api/v1/orders", headers=mo.headers)).json()["orders"]
    assert [o["state"] for o in mine] == ["paid"]  # the money stayed where it was

    audit = await http.get(f"/api/v1/rooms/{room['id']}/audit", headers=host.headers)
    entry = audit.json()["entries"][0]
    assert (entry["action"], entry["actor"]["id"]) == ("order.refund_refused", mo.id)
    assert entry["target"] == {"order_id": order["id"]}

    operator = await sign_up(http, "Ops")
    assert server.account_store is not None
    await server.account_store.set_admin(operator.id, True)
    refunded = await http.post(f"/api/v1/orders/{order['id']}/refund", headers=operator.headers)
    assert (refunded.status_code, refunded.json()["state"]) == (200, "refunded")


async def test_a_giveaway_is_confirmed_with_no_charge_and_no_card(
    server: Server, http: httpx.AsyncClient, redis_url: str
) -> None:
    host, room, _product, hosting, sale = await open_sale(server, http, units=2, price=0)
    kari = await sign_up(http, "Kari")
    hold = await hold_for(server, room, sale, kari)

    free = await http.post(
        f"/api/v1/reservations/{hold['id']}/checkout",
        json={"address": ADDRESS},
        headers={**kari.headers, "Idempotency-Key": "giveaway-0001"},
    )
    assert free.status_code == 201, free.text
    order = free.json()["order"]
    assert (order["state"], order["amount"], order["payment"]) == ("paid", 0, {"ref": None})
    assert await payments_made(redis_url) == []
    status = (await http.get(f"/api/v1/sales/{sale['id']}")).json()
    assert (status["available"], status["held"], status["sold"]) == (1, 0, 1)
    live = await hosting.expect("order.created")
    assert live["order"]["id"] == order["id"]

    # A second winner whose app sends a card anyway is not charged either.
    bea = await sign_up(http, "Bea")
    other = await pay(http, bea, (await hold_for(server, room, sale, bea))["id"], PAID, "gift-0002")
    assert other.status_code == 201, other.text
    assert (other.status_code, other.json()["order"]["payment"]) == (201, {"ref": None})
    assert await payments_made(redis_url) == []
    exported = await http.get(f"/api/v1/rooms/{room['id']}/orders.csv", headers=host.headers)
    assert [r["payment_ref"] for r in csv.DictReader(io.StringIO(exported.text))] == ["", ""]
    undone = await http.post(f"/api/v1/orders/{order['id']}/refund", headers=host.headers)
    assert (undone.status_code, undone.json()["state"]) == (200, "refunded")


async def test_a_sale_no_checkout_could_pay_for_is_refused_when_it_starts(
    server: Server, http: httpx.AsyncClient
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    product = await add_product(http, host)
    hosting = await join(server.ws_url, room["id"], host)
    too_dear = {"price": 10**11, "per_user_limit": 11, "units": 1}
    await hosting.send({"type": "sale.start", "product_id": product["id"], "ref": "s", **too_dear})
    refused = await reply_to(hosting, "s")
    assert (refused["type"], refused["code"]) == ("error", "bad_request")
    assert "'price'" in refused["message"]
    answer = await http.post(
        f"/api/v1/rooms/{room['id']}/sales",
        json={"product_id": product["id"], **too_dear},
        headers=host.headers,
    )
    assert (answer.status_code, answer.json()["code"]) == (400, "bad_request")
    assert "'price'" in answer.json()["detail"]
    # Right at the limit, one buyer's whole allowance is still a payment the provider takes.
    sale = await start_sale(hosting, product["id"], price=10**10, per_user_limit=100, units=1)
    assert sale["price"] * sale["per_user_limit"] == 10**12


async def test_ending_the_show_stops_its_sales_at_once_and_holds_can_still_be_paid(
    server: Server, http: httpx.AsyncClient
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    jumper = await add_product(http, host)
    scarf = await add_product(http, host, sku="SCARF-1", title="Scarf")
    hosting = await join(server.ws_url, room["id"], host)
    sales = [await start_sale(hosting, p["id"], units=3) for p in (jumper, scarf)]
    kari, bea = await sign_up(http, "Kari"), await sign_up(http, "Bea")
    hold = await hold_for(server, room, sales[0], kari)
    watching = await join(server.ws_url, room["id"], bea)

    ended = await http.post(f"/api/v1/rooms/{room['id']}/end", headers=host.headers)
    assert (ended.status_code, ended.json()["state"]) == (200, "ended")

    stopped = [await watching.expect("sale.ended") for _ in sales]
    assert {(e["sale_id"], e["reason"]) for e in stopped} == {(s["id"], "stopped") for s in sales}
    state = await watching.expect("room.state")
    # One step: the sales' ends and the show's end are consecutive in the room's history.
    assert [e["seq"] for e in stopped] + [state["seq"]] == list(
        range(state["seq"] - len(sales), state["seq"] + 1)
    )
    for sale in sales:
        late = await http.post(
            f"/api/v1/sales/{sale['id']}/reservations", json={"quantity": 1}, headers=bea.headers
        )
        assert (late.status_code, late.json()["code"]) == (409, "sale_not_active")
        status = (await http.get(f"/api/v1/sales/{sale['id']}")).json()
        assert (status["state"], status["end_reason"]) == ("ended", "stopped")

    paid = await pay(http, kari, hold["id"], PAID, "after-the-show-01")
    assert paid.status_code == 201, paid.text
    status = (await http.get(f"/api/v1/sales/{sales[0]['id']}")).json()
    assert (status["available"], status["held"], status["sold"]) == (2, 0, 1)


# One key, one hold: across processes ---------------------------------------------------------

CLUSTER_SECRET = "checkout-secret-shared-by-the-cluster"


@pytest.fixture
async def two_processes(
    shared_store: SharedStore, tmp_path: Path
) -> AsyncIterator[list[ServerProcess]]:
    args = [*shared_store.args, "--secret", CLUSTER_SECRET]
    pair = await asyncio.gather(
        start_process(tmp_path / "a", *args), start_process(tmp_path / "b", *args)
    )
    yield list(pair)
    await asyncio.gather(*(p.stop() for p in pair), return_exceptions=True)


async def payments_made(redis_url: str, store: SharedStore | None = None) -> list[bytes]:
    client = store.client() if store is not None else Redis.from_url(redis_url)
    try:
        return [k async for k in client.scan_iter("lc:{pay:*}:payment:*")]
    finally:
        await client.aclose()


@pytest.mark.multiprocess
async def test_one_key_on_two_holds_pays_for_one_only_even_on_two_processes_at_once(
    two_processes: list[ServerProcess], shared_store: SharedStore
) -> None:
    a, b = two_processes
    on = [httpx.AsyncClient(base_url=p.http_url, timeout=timeout(10)) for p in (a, b)]
    try:
        host = await sign_up(on[0], "Ada")
        room = await open_room(on[0], host)
        product = await add_product(on[0], host)
        hosting = await join(a.ws_url, room["id"], host)
        sale = await start_sale(hosting, product["id"], units=4, per_user_limit=2, price=2900)
        kari, mallory = await sign_up(on[0], "Kari"), await sign_up(on[0], "Mallory")
        buying = await join(b.ws_url, room["id"], kari)
        holds = []
        for ref in ("first", "second"):
            await buying.send({"type": "reserve", "sale_id": sale["id"], "ref": ref, "key": ref})
            holds.append((await reply_to(buying, ref))["reservation"])

        # Kari's app sends one key for both holds, one request to each process, at once.
        answers = await asyncio.gather(
            pay(on[0], kari, holds[0]["id"], PAID, "kari-key-0001"),
            pay(on[1], kari, holds[1]["id"], PAID, "kari-key-0001"),
        )
        codes = sorted((r.status_code, r.json().get("code")) for r in answers)
        assert codes == [(201, None), (409, "idempotency_key_reused")], codes
        won = next(i for i, r in enumerate(answers) if r.status_code == 201)
        order = answers[won].json()["order"]
        assert order["reservation_id"] == holds[won]["id"]
        assert len(await payments_made(shared_store.url, shared_store)) == 1  # one charge

        # The key goes on meaning that hold, on either process; the other hold pays afresh.
        again = await pay(on[1 - won], kari, holds[won]["id"], PAID, "kari-key-0001")
        assert (again.status_code, again.json()["order"]["id"]) == (201, order["id"])
        lost = holds[1 - won]["id"]
        refused = await pay(on[won], kari, lost, PAID, "kari-key-0001")
        assert (refused.status_code, refused.json()["code"]) == (409, "idempotency_key_reused")
        second = (await pay(on[won], kari, lost, PAID, "kari-key-0002")).json()["order"]
        assert second["payment"]["ref"] != order["payment"]["ref"]

        # Another buyer's identical key is hers alone: it neither collides nor reveals.
        await buying.close()
        hers = await join(a.ws_url, room["id"], mallory)
        await hers.send({"type": "reserve", "sale_id": sale["id"], "ref": "m", "key": "m"})
        her_hold = (await reply_to(hers, "m"))["reservation"]
        paid = await pay(on[1], mallory, her_hold["id"], PAID, "kari-key-0001")
        assert paid.status_code == 201, paid.text
        assert paid.json()["order"]["id"] not in (order["id"], second["id"])
        assert paid.json()["order"]["buyer"]["id"] == mallory.id
        assert len(await payments_made(shared_store.url, shared_store)) == 3
        await hers.close()
        await hosting.close()
    finally:
        await asyncio.gather(*(c.aclose() for c in on))


# A charge without an order: the process died between the two --------------------------------


async def until(check: Callable[[], Awaitable[T | None]], wait: float) -> T:
    """What ``check`` finds, once it finds something, within the scaled deadline."""
    async with asyncio.timeout(timeout(wait)):
        while (found := await check()) is None:  # noqa: ASYNC110 - state in Redis, no event
            await asyncio.sleep(0.02)  # polling a condition, under the deadline above
    return found


@pytest.mark.multiprocess
async def test_a_charge_left_by_a_process_killed_mid_checkout_is_given_back_once(
    redis_url: str, tmp_path: Path
) -> None:
    args = ["--redis-url", redis_url, "--secret", CLUSTER_SECRET]
    a, b, c = await asyncio.gather(*(start_process(tmp_path / n, *args) for n in "abc"))
    store = Redis.from_url(redis_url)
    try:
        async with httpx.AsyncClient(base_url=b.http_url, timeout=timeout(10)) as http:
            host = await sign_up(http, "Ada")
            room = await open_room(http, host)
            product = await add_product(http, host)
            hosting = await join(b.ws_url, room["id"], host)
            sale = await start_sale(hosting, product["id"], units=2, hold_s=10)
            kari = await sign_up(http, "Kari")
            buying = await join(c.ws_url, room["id"], kari)
            await buying.send({"type": "reserve", "sale_id": sale["id"], "ref": "r"})
            hold = (await reply_to(buying, "r"))["reservation"]

            # Kari pays on process a; her card is charged, and a is killed before the order.
            async def charged() -> str | None:
                raw = await store.get(keys.payment_claim(f"{kari.id}|kari-pays-0001"))
                stored = orjson.loads(raw) if raw else {}
                done = stored.get("state") == "done"
                return str(stored["result"]["payment_ref"]) if done else None

            async with httpx.AsyncClient(base_url=a.http_url, timeout=timeout(30)) as on_a:
                paying = asyncio.create_task(
                    pay(on_a, kari, hold["id"], SLOW_ANSWER, "kari-pays-0001")
                )
                payment_ref = await until(charged, wait=10)
                a.kill()
                with pytest.raises(httpx.TransportError):
                    await paying
            assert await a.process.wait() == -9

            # Her app never retries. When the hold's time is up, the two processes left
            # sweep at once, and the money goes back once.
            async def refunded() -> dict[bytes, bytes] | None:
                raw = await store.hgetall(keys.payment(payment_ref))
                payment = {bytes(k): bytes(v) for k, v in raw.items()}  # type: ignore[arg-type]
                return payment if int(payment[b"refunded"]) > 0 else None

            payment = await until(refunded, wait=30)
            assert int(payment[b"refunded"]) == int(payment[b"amount"]) == 2900
            assert [k for k in payment if k.startswith(b"refund:")] == [
                f"refund:void|{payment_ref}".encode()
            ]
            orders = await http.get(f"/api/v1/rooms/{room['id']}/orders", headers=host.headers)
            assert orders.json()["orders"] == []
            gone = await http.get(f"/api/v1/reservations/{hold['id']}", headers=kari.headers)
            assert gone.json()["state"] == "expired"
            status = (await http.get(f"/api/v1/sales/{sale['id']}")).json()
            assert (status["available"], status["held"], status["sold"]) == (2, 0, 0)
            assert await store.zcard("lc:{charges}:open") == 0
            await buying.close()
            await hosting.close()
    finally:
        await store.aclose()
        await asyncio.gather(*(p.stop() for p in (a, b, c)), return_exceptions=True)


async def test_the_sweeper_keeps_a_charge_whose_order_was_written(
    server: Server, http: httpx.AsyncClient, sale_on: Any
) -> None:
    _host, room, _hosting, sale = sale_on
    bea = await sign_up(http, "Bea")
    hold = await hold_for(server, room, sale, bea)
    order = (await pay(http, bea, hold["id"], PAID, "bea-pays-0001")).json()["order"]

    # The process wrote the order and died before it closed its ledger entry.
    assert server.checkout is not None
    assert server.sweeper is not None
    entry = OpenCharge(
        f"{bea.id}|bea-pays-0001", room["id"], sale["id"], hold["id"], bea.id, 2900, "EUR"
    )
    await server.checkout.ledger.open(entry, look_at=0)
    assert await server.sweeper.sweep() == 0
    assert await server.checkout.ledger.count() == 0
    mine = (await http.get("/api/v1/orders", headers=bea.headers)).json()["orders"]
    assert [(o["id"], o["state"]) for o in mine] == [(order["id"], "paid")]
    payment = await server.checkout.store.client.hget(
        keys.payment(order["payment"]["ref"]), "refunded"
    )
    assert payment == b"0"


async def test_two_processes_sweeping_at_once_give_an_orphan_charge_back_once(
    start_server: ServerFactory,
) -> None:
    clock = FakeClock()
    a, b = await start_server(clock=clock), await start_server(clock=clock)
    assert a.sweeper is not None
    assert b.sweeper is not None
    assert a.checkout is not None
    assert b.checkout is not None
    await a.sweeper.stop()  # this story runs the sweeps itself, both at the same moment
    await b.sweeper.stop()
    async with httpx.AsyncClient(base_url=a.http_url) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
        product = await add_product(http, host)
        hosting = await join(a.ws_url, room["id"], host)
        sale = await start_sale(hosting, product["id"], units=1, hold_s=30)
        kari = await sign_up(http, "Kari")
        hold = await hold_for(a, room, sale, kari)

        # What a process that died after the charge leaves: the note and the charge.
        key = f"{kari.id}|kari-pays-0001"
        note = OpenCharge(key, room["id"], sale["id"], hold["id"], kari.id, 2900, "EUR")
        await a.checkout.ledger.open(note, look_at=hold["expires_at"] + 2000)
        card = parse_card(PAID, now=clock())
        charged = await a.checkout.payments.charge(
            amount=2900, currency="EUR", card=card, idempotency_key=key, description="Jumper"
        )
        assert await a.sweeper.sweep() == 0  # in time: Kari may still retry

        clock.advance(33)
        given_back = await asyncio.gather(a.sweeper.sweep(), b.sweeper.sweep())
        assert sorted(given_back) == [0, 1]
        raw = await a.checkout.store.client.hgetall(keys.payment(charged.payment_ref))
        payment = {bytes(k): bytes(v) for k, v in raw.items()}  # type: ignore[arg-type]
        assert payment[b"refunded"] == b"2900"
        assert [k for k in payment if k.startswith(b"refund:")] == [
            f"refund:void|{charged.payment_ref}".encode()
        ]
        assert await a.checkout.ledger.count() == 0
        late = await pay(http, kari, hold["id"], PAID, "kari-pays-0001")
        assert (late.status_code, late.json()["code"]) == (409, "hold_expired")
        await hosting.close()


async def test_a_buyers_other_device_hears_their_hold_is_paid_and_nobody_else_does(
    server: Server, http: httpx.AsyncClient
) -> None:
    _host, room, _product, _hosting, sale = await open_sale(server, http, per_user_limit=1)
    kari = await sign_up(http, "Kari")
    phone = await join(server.ws_url, room["id"], kari)
    await phone.send({"type": "reserve", "sale_id": sale["id"], "quantity": 1, "ref": "r"})
    hold = (await reply_to(phone, "r"))["reservation"]
    ola = await join(server.ws_url, room["id"], await sign_up(http, "Ola"))

    # Kari pays on her laptop; the phone that holds is told, so its card stops counting down.
    assert (await pay(http, kari, hold["id"], PAID, "laptop-pays-1")).status_code == 201
    paid = await phone.expect("order.created")
    assert (paid["order"]["reservation_id"], paid["order"]["buyer"]["id"]) == (hold["id"], kari.id)

    # Ola hears nothing of Kari's order: a line said after it reaches her, the order never.
    await phone.send({"type": "chat.send", "text": "got it!", "ref": "c"})
    await ola.expect("chat.message")
    assert [e for e in ola.seen if e["type"] == "order.created"] == []
