"""Abuse limits slow scripts down and let crowds through: per account, per address, counted."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from livecommerce.errors import BadRequest
from livecommerce.runtime import metrics
from livecommerce.store.limits import Limit
from tests.conftest import timeout
from tests.helpers import add_product, join, open_room, reply_to, sign_up, start_sale
from tests.livecommerce.conftest import ServerFactory

PASSWORD = "correct horse battery"


def refused(limit: str) -> float:
    return float(metrics.RATE_LIMITED.labels(limit)._value.get())


@pytest.mark.parametrize(
    ("spec", "per_minute", "burst"), [("30/10", 30, 10), ("0", 0, 1), ("12", 12, 12)]
)
def test_a_limit_reads_as_per_minute_and_burst(spec: str, per_minute: float, burst: int) -> None:
    limit = Limit.parse("x", spec)
    assert (limit.per_minute, limit.burst) == (per_minute, burst)


@pytest.mark.parametrize("spec", ["fast", "10/x", "-1/5", "10/0"])
def test_a_nonsense_limit_is_refused(spec: str) -> None:
    with pytest.raises(BadRequest, match="limit x"):
        Limit.parse("x", spec)


async def test_many_new_accounts_from_one_address_are_slowed_down(
    start_server: ServerFactory,
) -> None:
    server = await start_server(limit_signup="1/3")
    before = refused("signup")
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        for i in range(3):
            made = await http.post(
                "/api/v1/accounts", json={"username": f"bot{i}", "password": PASSWORD}
            )
            assert made.status_code == 201, made.text
        slowed = await http.post(
            "/api/v1/accounts", json={"username": "bot3", "password": PASSWORD}
        )
    assert slowed.status_code == 429
    assert slowed.json()["code"] == "rate_limited"
    assert 50 <= float(slowed.headers["retry-after"]) <= 60
    assert refused("signup") == before + 1


async def attempt(http: httpx.AsyncClient, username: str, password: str, address: str) -> int:
    """One sign-in from ``address`` (behind the operator's proxy); its HTTP status."""
    answer = await http.post(
        "/api/v1/sessions",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": address},
    )
    return answer.status_code


async def test_guessing_a_password_slows_the_guesser_and_never_locks_out_its_owner(
    start_server: ServerFactory,
) -> None:
    server = await start_server(
        trust_forwarded=True, limit_signin_failures="1/10", limit_signin_account="1/10"
    )
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        ada = await sign_up(http, "Ada")
        before = refused("signin_failures")
        mallory = "203.0.113.66"
        guesses = [
            await attempt(http, ada.username, "not the password", mallory) for _ in range(30)
        ]
        assert guesses == [401] * 10 + [429] * 20  # refused before the password is hashed
        assert refused("signin_failures") == before + 20
        assert await attempt(http, ada.username, PASSWORD, mallory) == 429  # even a right guess
        assert await attempt(http, ada.username, PASSWORD, "198.51.100.7") == 200  # Ada, at home
        kari = await sign_up(http, "Kari")  # a neighbour behind Mallory's address
        assert await attempt(http, kari.username, PASSWORD, mallory) == 200


async def test_many_addresses_guessing_one_password_lose_their_bursts_and_its_owner_gets_in(
    start_server: ServerFactory,
) -> None:
    server = await start_server(
        trust_forwarded=True, limit_signin_failures="1/5", limit_signin_account="1/3"
    )
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        ada = await sign_up(http, "Ada")
        for n in range(3):  # three addresses guess once: the username's ceiling is spent
            assert await attempt(http, ada.username, "wrong guess", f"203.0.113.{n}") == 401
        assert await attempt(http, ada.username, "wrong guess", "203.0.113.0") == 429  # no burst
        assert await attempt(http, ada.username, "wrong guess", "203.0.113.9") == 401  # one try
        assert await attempt(http, ada.username, PASSWORD, "198.51.100.7") == 200


async def test_an_owner_who_mistypes_then_gets_it_right_starts_afresh(
    start_server: ServerFactory,
) -> None:
    server = await start_server(
        trust_forwarded=True, limit_signin_failures="1/3", limit_signin_account="1/100"
    )
    home = "198.51.100.7"
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        ada = await sign_up(http, "Ada")
        assert [await attempt(http, ada.username, "typo typo", home) for _ in range(2)] == [401] * 2
        assert await attempt(http, ada.username, PASSWORD, home) == 200
        statuses = [await attempt(http, ada.username, "typo typo", home) for _ in range(4)]
        assert statuses == [401, 401, 401, 429]  # the earlier typos were forgiven


async def test_hundreds_behind_one_address_get_in_as_guests_and_a_flood_does_not(
    start_server: ServerFactory,
) -> None:
    server = await start_server(limit_guest_join="1/200")
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        ada = await sign_up(http, "Ada")
        room = await open_room(http, ada)
    guests = [await join(server.ws_url, room["id"], max_queue=None) for _ in range(200)]
    assert all(g.seen[0]["type"] == "welcome" for g in guests)
    url = f"{server.ws_url}/ws/rooms/{room['id']}"
    async with connect(url, subprotocols=["livecommerce.json"]) as ws:  # type: ignore[list-item]
        error = await asyncio.wait_for(ws.recv(), timeout(5))
        assert '"rate_limited"' in str(error)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), timeout(5))
        assert ws.close_code == 4029
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        kari = await sign_up(http, "Kari")
    signed_in = await join(server.ws_url, room["id"], kari)  # accounts are not address-limited
    assert signed_in.seen[0]["type"] == "welcome"
    await asyncio.gather(*(g.ws.close() for g in guests))


async def test_a_buyer_pressing_faster_than_a_person_can_is_slowed(
    start_server: ServerFactory,
) -> None:
    server = await start_server(limit_reserve="6/3")
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        ada, kari = await sign_up(http, "Ada"), await sign_up(http, "Kari")
        room = await open_room(http, ada)
        product = await add_product(http, ada, stock=20)
    hosting = await join(server.ws_url, room["id"], ada)
    sale = await start_sale(hosting, product["id"], units=20, per_user_limit=10)
    buying = await join(server.ws_url, room["id"], kari)
    before = refused("reserve")
    answers = []
    for i in range(4):
        await buying.send({"type": "reserve", "sale_id": sale["id"], "key": f"k{i}", "ref": f"{i}"})
        answers.append(await reply_to(buying, f"{i}"))
    assert [a["type"] for a in answers[:3]] == ["reservation"] * 3
    assert answers[3]["code"] == "rate_limited"
    assert 0 < answers[3]["retry_after"] <= 10
    assert refused("reserve") == before + 1


async def test_behind_the_operators_proxy_the_forwarded_address_is_the_one_limited(
    start_server: ServerFactory,
) -> None:
    proxied = await start_server(limit_signup="1/1", trust_forwarded=True)
    direct = await start_server(limit_signup="1/1")
    async with httpx.AsyncClient(base_url=proxied.http_url) as http:
        for n, address in enumerate(("203.0.113.7", "198.51.100.9")):
            made = await http.post(
                "/api/v1/accounts",
                json={"username": f"proxied{n}", "password": PASSWORD},
                headers={"X-Forwarded-For": f"10.9.9.9, {address}"},
            )
            assert made.status_code == 201
        again = await http.post(
            "/api/v1/accounts",
            json={"username": "proxied2", "password": PASSWORD},
            headers={"X-Forwarded-For": "1.2.3.4, 198.51.100.9"},  # a forged first hop
        )
        assert again.status_code == 429
    async with httpx.AsyncClient(base_url=direct.http_url) as http:
        statuses = [
            (
                await http.post(
                    "/api/v1/accounts",
                    json={"username": f"direct{n}", "password": PASSWORD},
                    headers={"X-Forwarded-For": f"203.0.113.{n}"},
                )
            ).status_code
            for n in range(2)
        ]
        assert statuses == [201, 429]  # without --trust-forwarded the header is ignored


async def test_one_account_cannot_hoard_holds_across_a_rooms_sales(
    start_server: ServerFactory,
) -> None:
    server = await start_server(max_holds=2)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        ada, kari = await sign_up(http, "Ada"), await sign_up(http, "Kari")
        room = await open_room(http, ada)
        products = [await add_product(http, ada, sku=f"CAP-{i}", stock=5) for i in range(3)]
    hosting = await join(server.ws_url, room["id"], ada)
    sales = []
    for i, product in enumerate(products):
        await hosting.send({"type": "sale.start", "product_id": product["id"], "price": 100,
                            "units": 5, "ref": f"s{i}"})  # fmt: skip
        sales.append((await reply_to(hosting, f"s{i}"))["sale"])
    buying = await join(server.ws_url, room["id"], kari)

    async def reserve(sale: dict[str, object], ref: str) -> dict[str, object]:
        await buying.send({"type": "reserve", "sale_id": sale["id"], "key": ref, "ref": ref})
        return await reply_to(buying, ref)

    first, second = await reserve(sales[0], "a"), await reserve(sales[1], "b")
    assert first["type"] == second["type"] == "reservation"
    third = await reserve(sales[2], "c")
    assert third["code"] == "too_many_holds"
    hold = first["reservation"]
    assert isinstance(hold, dict)
    await buying.send({"type": "release", "reservation_id": hold["id"], "ref": "r"})
    assert (await reply_to(buying, "r"))["type"] == "ack"
    assert (await reserve(sales[2], "d"))["type"] == "reservation"
