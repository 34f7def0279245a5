"""Every wrong way to start or join a group buy gets a code of its own, and moves nothing."""

from __future__ import annotations

import asyncio

from tests.helpers import PAID, add_product, reply_to, sign_up
from tests.livecommerce.groupbuys.conftest import DECLINED, Show, join_group


async def test_a_host_is_told_exactly_what_is_wrong_with_a_group_buy(show: Show) -> None:
    refusals = {
        "price": (await show.command("a", price=4900))["code"],
        "min_buyers": (await show.command("b", min_buyers=1))["code"],
        "units": (await show.command("c", min_buyers=5, units=4))["code"],
        "duration": (await show.command("d", duration_s=30))["code"],
        "stock": (await show.command("e", min_buyers=2, units=11))["code"],
    }
    assert refusals == {
        "price": "price_not_below_list",
        "min_buyers": "bad_request",
        "units": "bad_request",
        "duration": "bad_request",
        "stock": "out_of_stock",
    }
    someone = await sign_up(show.http, "Mallory")
    theirs = await add_product(show.http, someone, sku="NOT-ADAS")
    assert (await show.command("f", product_id=theirs["id"]))["code"] == "forbidden"
    _kari, kari_socket = await show.viewer("Kari")
    await kari_socket.send({"type": "groupbuy.start", "product_id": show.product["id"],
                            "price": 100, "min_buyers": 2, "units": 2, "duration_s": 60,
                            "ref": "x"})  # fmt: skip
    assert (await reply_to(kari_socket, "x"))["code"] == "forbidden"
    assert await show.stock() == 10


async def test_a_joiner_is_told_exactly_why_a_join_was_refused(show: Show) -> None:
    group = await show.group(min_buyers=2, units=2)
    gid = group["id"]
    kari, _ = await show.viewer("Kari")
    no_key = await join_group(show.http, kari, gid, None)
    assert (no_key.status_code, no_key.json()["code"]) == (400, "bad_request")
    assert "Idempotency-Key" in no_key.json()["detail"]
    declined = await join_group(show.http, kari, gid, "kari-declined", card=DECLINED)
    assert (declined.status_code, declined.json()["code"]) == (402, "payment_declined")
    after = (await show.http.get(f"/api/v1/group-buys/{gid}")).json()
    assert (after["joined"], after["units_left"]) == (0, 2)  # the unit came back
    retried = await join_group(show.http, kari, gid, "kari-second-card", card=PAID)
    assert retried.status_code == 201, retried.text  # a new key and card may join
    left = await show.http.delete(f"/api/v1/group-buys/{gid}/join", headers=kari.headers)
    assert left.json()["join"]["state"] == "voided", left.text
    assert left.json()["group"]["units_left"] == 2  # her unit is back
    again = await show.http.delete(f"/api/v1/group-buys/{gid}/join", headers=kari.headers)
    assert (again.status_code, again.json()["code"]) == (404, "not_found")
    back = await join_group(show.http, kari, gid, "kari-third-key")
    assert back.json()["join"]["state"] == "authorised"
    host = await join_group(show.http, show.host, gid, "host-key-1")
    assert (host.status_code, host.json()["code"]) == (403, "forbidden")
    unknown = await join_group(show.http, kari, "g_nope", "kari-key-9")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    guest = await show.http.post(f"/api/v1/group-buys/{gid}/join", json={})
    assert guest.status_code == 401

    await show.studio.send({"type": "groupbuy.stop", "group_id": gid, "ref": "stop"})
    stopped = await reply_to(show.studio, "stop")
    assert stopped["group"]["state"] == "stopped", stopped
    ola, _ = await show.viewer("Ola")
    closed = await join_group(show.http, ola, gid, "ola-key-1")
    assert (closed.status_code, closed.json()["code"]) == (409, "group_buy_not_open")
    mine = await show.http.get(f"/api/v1/group-buys/{gid}/join", headers=kari.headers)
    assert mine.json()["join"]["state"] == "voided"
    await show.studio.send({"type": "groupbuy.stop", "group_id": gid, "ref": "again"})
    assert (await reply_to(show.studio, "again"))["code"] == "group_buy_not_open"
    assert await show.stock() == 10


async def test_the_last_unit_goes_to_one_joiner_and_the_next_hears_sold_out(show: Show) -> None:
    group = await show.group(min_buyers=2, units=2)
    gid = group["id"]
    kari, _ = await show.viewer("Kari")
    ola, _ = await show.viewer("Ola")
    liv, _ = await show.viewer("Liv")
    slow = {**PAID, "card_number": "4000000000000077"}  # authorised; the answer takes a while
    first = await join_group(show.http, kari, gid, "kari-key-1")
    assert first.status_code == 201
    second, third = await asyncio.gather(
        join_group(show.http, ola, gid, "ola-key-1", card=slow),
        join_group(show.http, liv, gid, "liv-key-1"),
    )
    codes = sorted([second.status_code, third.status_code])
    assert codes == [201, 409], (second.text, third.text)
    loser = third if third.status_code == 409 else second
    assert loser.json()["code"] in ("sold_out", "group_buy_not_open")
