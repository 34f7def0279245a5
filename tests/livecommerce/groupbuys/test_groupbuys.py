"""Group buys against a real server and Valkey: a group that fills and one that expires."""

from __future__ import annotations

from tests.helpers import ADDRESS, PAID, join
from tests.livecommerce.groupbuys.conftest import CAPTURE_DECLINES, Show, gather, join_group


async def test_a_group_fills_with_its_second_joiner_and_every_card_is_charged_once(
    show: Show,
) -> None:
    group = await show.group(min_buyers=2, units=3)
    assert (group["state"], group["joined"], group["units_left"]) == ("open", 0, 3)
    assert (group["price"], group["list_price"]) == (2900, 4900)
    assert await show.stock() == 7  # the group's units left the product's stock
    gid = group["id"]
    kari, kari_socket = await show.viewer("Kari")
    welcome = kari_socket.seen[0]
    assert [g["id"] for g in welcome["group_buys"]] == [gid]

    first = await join_group(show.http, kari, gid, "kari-join-1")
    assert first.status_code == 201, first.text
    joined = first.json()
    assert joined["join"]["state"] == "authorised"
    assert (joined["group"]["joined"], joined["group"]["units_left"]) == (1, 2)
    progress = await kari_socket.expect("groupbuy.progress", lambda e: e["joined"] == 1)
    assert (progress["min_buyers"], progress["units_left"]) == (2, 2)

    again = await join_group(show.http, kari, gid, "kari-join-1")
    assert again.status_code == 201
    assert again.json()["join"]["id"] == joined["join"]["id"]
    other_body = await join_group(
        show.http, kari, gid, "kari-join-1", address={**ADDRESS, "city": "Bergen"}
    )
    assert other_body.json()["code"] == "idempotency_key_reused"
    twice = await join_group(show.http, kari, gid, "kari-join-2")
    assert (twice.status_code, twice.json()["code"]) == (409, "already_joined")
    mine = await show.http.get(f"/api/v1/group-buys/{gid}/join", headers=kari.headers)
    assert mine.json()["join"]["state"] == "authorised"
    phone = await join(show.server.ws_url, show.room["id"], kari)  # her other device
    assert phone.seen[0]["you"]["group_joins"][gid]["state"] == "authorised"
    await phone.close()

    ola, _ = await show.viewer("Ola")
    filling = await join_group(show.http, ola, gid, "ola-join-1")
    assert filling.status_code == 201, filling.text
    assert filling.json()["join"]["state"] == "captured"
    assert filling.json()["group"]["state"] == "filled"
    seen = await gather(kari_socket, gid, "groupbuy.filled", "groupbuy.payment")
    assert seen["groupbuy.payment"]["join"]["state"] == "captured"
    orders = (await show.http.get("/api/v1/orders", headers=kari.headers)).json()["orders"]
    assert [(o["kind"], o["amount"], o["group_buy_id"]) for o in orders] == [
        ("group_buy", 2900, gid)
    ]
    assert orders[0]["shipping"]["city"] == "Oslo"

    late, _ = await show.viewer("Liv")  # after the fill: captured at once, the last unit
    last = await join_group(show.http, late, gid, "liv-join-1")
    assert last.json()["join"]["state"] == "captured"
    ended = await kari_socket.expect("groupbuy.ended", lambda e: e["group_id"] == gid)
    assert (ended["reason"], ended["joined"]) == ("sold_out", 3)
    sold, _ = await show.viewer("Siv")
    refused = await join_group(show.http, sold, gid, "siv-join-1")
    assert (refused.status_code, refused.json()["code"]) == (409, "group_buy_not_open")
    room_orders = await show.http.get(
        f"/api/v1/rooms/{show.room['id']}/orders", headers=show.host.headers
    )
    assert len([o for o in room_orders.json()["orders"] if o.get("kind") == "group_buy"]) == 3
    assert await show.stock() == 7  # all three sold: nothing comes back
    results = await show.http.get(
        f"/api/v1/rooms/{show.room['id']}/results", headers=show.host.headers
    )
    moments = [m for m in results.json()["markers"] if m["kind"] == "groupbuy"]
    assert [(m["joined"], m["min_buyers"], m["filled"]) for m in moments] == [(3, 2, True)]
    listed = await show.http.get(f"/api/v1/rooms/{show.room['id']}/group-buys")
    assert [(g["id"], g["state"], g["end_reason"]) for g in listed.json()["group_buys"]] == [
        (gid, "ended", "sold_out")
    ]


async def test_a_group_that_does_not_fill_by_its_deadline_lets_every_card_and_unit_go(
    show: Show,
) -> None:
    group = await show.group(min_buyers=3, units=4, duration_s=60)
    gid = group["id"]
    kari, kari_socket = await show.viewer("Kari")
    ola, _ = await show.viewer("Ola")
    for user, key in ((kari, "kari-key-1"), (ola, "ola-key-1")):
        answer = await join_group(show.http, user, gid, key)
        assert answer.json()["join"]["state"] == "authorised", answer.text
    assert await show.stock() == 6
    show.clock.advance(61)
    seen = await gather(kari_socket, gid, "groupbuy.ended", "groupbuy.payment")
    assert (seen["groupbuy.ended"]["reason"], seen["groupbuy.ended"]["joined"]) == ("expired", 2)
    assert seen["groupbuy.payment"]["join"]["state"] == "voided"
    mine = await show.http.get(f"/api/v1/group-buys/{gid}/join", headers=ola.headers)
    assert mine.json()["join"]["state"] == "voided"
    assert (await show.http.get(f"/api/v1/group-buys/{gid}")).json()["state"] == "expired"
    orders = (await show.http.get("/api/v1/orders", headers=kari.headers)).json()["orders"]
    assert orders == []
    # The give-back follows the last void on the same pass, before the joiners are told.
    assert await show.stock() == 10


async def test_a_capture_declined_lets_that_joiners_unit_go_and_the_others_pay(
    show: Show,
) -> None:
    group = await show.group(min_buyers=2, units=2)
    gid = group["id"]
    kari, kari_socket = await show.viewer("Kari")
    ola, _ = await show.viewer("Ola")
    first = await join_group(show.http, kari, gid, "kari-key-1", card=CAPTURE_DECLINES)
    assert first.json()["join"]["state"] == "authorised"
    second = await join_group(show.http, ola, gid, "ola-key-1", card=PAID)
    assert second.json()["join"]["state"] == "captured"
    told = await kari_socket.expect("groupbuy.payment")  # hers only: "to" is the server's
    assert told["join"]["state"] == "capture_failed"
    now = (await show.http.get(f"/api/v1/group-buys/{gid}")).json()
    assert (now["state"], now["joined"], now["units_left"]) == ("filled", 1, 1)
