"""Giveaways in a live show: a host starts one, present viewers enter once each, the draw is
published with its seed and anyone recomputes it, and the winner claims the prize."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from livecommerce.giveaways.rules import verify
from livecommerce.store import keys
from tests.helpers import (
    ADDRESS,
    PAID,
    appoint,
    hold_for,
    join,
    pay,
    sign_up,
    start_sale,
    tool,
)
from tests.livecommerce.giveaways.conftest import Show, enter
from tests.receivers import StartReceiver


async def test_a_giveaway_from_start_to_the_prize_in_the_winners_hands(
    show: Show, start_receiver: StartReceiver
) -> None:
    receiver = await start_receiver()
    hook = {"url": receiver.url, "events": ["order.created"]}
    added = await show.http.post("/api/v1/webhooks", json=hook, headers=show.host.headers)
    assert added.status_code == 201, added.text
    ben, ben_phone = await show.viewer("Ben")
    ben_laptop = await join(show.server.ws_url, show.room["id"], ben)
    cleo, cleo_socket = await show.viewer("Cleo")
    started = await show.start(kind="standard", duration_s=30)
    assert started["state"] == "active"
    assert started["entrants"] == 0
    assert await show.stock() == 2  # the prize unit left stock at the start

    told = await cleo_socket.expect("giveaway.started")
    assert told["giveaway"]["commitment"] == started["commitment"]
    assert "seed" not in str(told)
    assert started["result"] is None
    assert (await show.read(started["id"]))["result"] is None  # no seed before the end

    first = await enter(ben_phone, started["id"], "a")
    again = await enter(ben_laptop, started["id"], "b")
    assert (first["entered"], first["repeated"], first["count"]) == (True, False, 1)
    assert (again["repeated"], again["count"], again["method"]) == (True, 1, "viewer")
    assert (await enter(cleo_socket, started["id"]))["count"] == 2
    counted = await ben_phone.expect("giveaway.entered", lambda e: e["count"] == 2)
    assert counted["giveaway_id"] == started["id"]

    late = await join(show.server.ws_url, show.room["id"], ben)
    welcome = late.seen[0]
    assert welcome["giveaway"]["id"] == started["id"]
    assert welcome["you"]["giveaway_entered"]

    show.clock.advance(31)
    ended = await show.studio.expect("giveaway.ended")  # the winner's giveaway.won may overtake it
    assert ended["reason"] == "drawn"
    assert ended["entrants"] == 2
    assert hashlib.sha256(bytes.fromhex(ended["seed"])).hexdigest() == started["commitment"]
    published = await show.read(started["id"])
    result = published["result"]
    assert result["seed"] == ended["seed"]
    assert sorted(result["entrant_ids"]) == sorted([ben.id, cleo.id])
    assert result["winner"] == ended["winner"]
    assert verify(
        started["commitment"], result["seed"], result["entrant_ids"], ended["winner"]["id"]
    )
    assert (await enter(cleo_socket, started["id"], "late"))["code"] == "giveaway_not_active"

    winner, loser = (ben, cleo) if ended["winner"]["id"] == ben.id else (cleo, ben)
    socket = ben_phone if winner is ben else cleo_socket
    won = await socket.expect("giveaway.won")
    order = won["order"]
    assert (order["state"], order["amount"], order["kind"]) == ("awaiting_address", 0, "giveaway")
    mine = await show.http.get("/api/v1/orders", headers=winner.headers)
    assert [o["id"] for o in mine.json()["orders"]] == [order["id"]]

    claim = f"/api/v1/orders/{order['id']}/claim"
    assert (
        await show.http.post(claim, json={"address": ADDRESS}, headers=loser.headers)
    ).status_code == 403
    bad = await show.http.post(
        claim, json={"address": {**ADDRESS, "city": ""}}, headers=winner.headers
    )
    assert bad.status_code == 400
    claimed = await show.http.post(claim, json={"address": ADDRESS}, headers=winner.headers)
    assert claimed.status_code == 200, claimed.text
    paid = claimed.json()["order"]
    assert (paid["state"], paid["amount"], paid["payment"]["ref"]) == ("paid", 0, None)
    assert paid["shipping"]["city"] == "Oslo"
    repeat = await show.http.post(claim, json={"address": ADDRESS}, headers=winner.headers)
    assert repeat.json()["order"] == paid
    studio_told = await show.studio.expect("order.created")
    assert studio_told["order"]["id"] == order["id"]
    feed = await show.http.get(f"/api/v1/rooms/{show.room['id']}/orders", headers=show.host.headers)
    assert [o["state"] for o in feed.json()["orders"] if o["id"] == order["id"]] == ["paid"]
    assert await show.stock() == 2  # given away: it never comes back
    (delivered,) = await receiver.wait_for(1, wait=15)
    event = orjson.loads(delivered.body)
    assert (event["type"], event["data"]["id"], event["data"]["amount"]) == (
        "order.created", order["id"], 0
    )  # fmt: skip


async def test_only_who_the_kind_names_may_enter_and_the_staff_never(show: Show) -> None:
    mod, mod_socket = await show.viewer("Mo")
    await appoint(show.http, show.host, show.room["id"], mod)
    fan, fan_socket = await show.viewer("Fan")
    _stranger, stranger_socket = await show.viewer("Stranger")
    banned, banned_socket = await show.viewer("Troll")
    guest = await join(show.server.ws_url, show.room["id"])
    assert show.server.store is not None
    await show.server.store.client.sadd(keys.followers(show.host.id), fan.id)  # as follows do
    assert (await tool(show.studio, "ban", type="mod.ban", user_id=banned.id))["type"] == "ack"

    followers = await show.start(kind="followers")
    assert (await enter(show.studio, followers["id"]))["code"] == "giveaway_staff"
    assert (await enter(mod_socket, followers["id"]))["code"] == "giveaway_staff"
    assert (await enter(guest, followers["id"]))["code"] == "unauthorized"
    assert (await enter(stranger_socket, followers["id"]))["code"] == "not_a_follower"
    assert (await enter(stranger_socket, followers["id"], free_entry=True))[
        "code"
    ] == "not_a_follower"
    assert (await enter(fan_socket, followers["id"]))["method"] == "follower"
    assert (await show.start(kind="standard", ref="second"))["code"] == "giveaway_running"

    cancelled = await tool(
        show.studio, "cancel", type="giveaway.cancel", giveaway_id=followers["id"]
    )
    assert cancelled["giveaway"]["result"]["reason"] == "cancelled"
    told = await fan_socket.expect("giveaway.ended")
    assert (told["reason"], told["winner"], told["entrants"]) == ("cancelled", None, 1)
    again = await tool(show.studio, "again", type="giveaway.cancel", giveaway_id=followers["id"])
    assert again["code"] == "giveaway_not_active"
    assert await show.stock() == 3  # the unit came back

    sale = await start_sale(show.studio, show.product["id"], price=1000, units=1)
    hold = await hold_for(show.server, show.room, sale, fan)
    assert (await pay(show.http, fan, hold["id"], PAID, "pay-fan-1")).status_code == 201
    buyers = await show.start(kind="buyers", ref="buyers")
    assert (await enter(stranger_socket, buyers["id"]))["code"] == "not_a_buyer"
    assert (await enter(stranger_socket, buyers["id"], "free", free_entry=True))["method"] == "free"
    assert (await enter(fan_socket, buyers["id"], "bought"))["method"] == "buyer"
    assert (await enter(banned_socket, buyers["id"], "b", free_entry=True))["code"] == "banned"
    assert (await enter(fan_socket, "g_nothing", "unknown"))["code"] == "giveaway_not_active"
    bad = await enter(fan_socket, buyers["id"], "flag", free_entry="yes")
    assert bad["code"] == "bad_request"


async def test_bad_starts_each_get_their_own_code(show: Show) -> None:
    _viewer, viewer_socket = await show.viewer("Dan")
    other = await sign_up(show.http, "Eve")
    theirs = await show.http.post(
        "/api/v1/products",
        json={"sku": "E-1", "title": "Not Ada's", "price": 100, "currency": "EUR", "stock": 5},
        headers=other.headers,
    )
    empty = await show.http.post(
        "/api/v1/products",
        json={"sku": "E-0", "title": "Gone", "price": 100, "currency": "EUR", "stock": 0},
        headers=show.host.headers,
    )
    cases: list[tuple[dict[str, Any], str]] = [
        ({"duration_s": 9}, "bad_request"),
        ({"duration_s": 301}, "bad_request"),
        ({"kind": "lottery"}, "bad_request"),
        ({"product_id": theirs.json()["id"]}, "forbidden"),
        ({"product_id": empty.json()["id"]}, "sold_out"),
        ({"product_id": "p_missing"}, "not_found"),
    ]
    for i, (fields, code) in enumerate(cases):
        assert (await show.start(ref=f"bad{i}", **fields))["code"] == code, fields
    assert (await tool(viewer_socket, "v2", type="giveaway.start", product_id=show.product["id"],
                       duration_s=30))["code"] == "forbidden"  # fmt: skip
    assert await show.stock() == 3

    nobody = await show.start(duration_s=10)
    show.clock.advance(11)
    ended = await viewer_socket.expect("giveaway.ended")
    assert (ended["reason"], ended["winner"], ended["entrants"]) == ("no_entrants", None, 0)
    assert (await show.read(nobody["id"]))["result"]["entrant_ids"] == []
    assert await show.stock() == 3

    ended_show = await show.http.post(
        f"/api/v1/rooms/{show.room['id']}/end", headers=show.host.headers
    )
    assert ended_show.status_code == 200
    assert (await show.start(ref="after"))["code"] == "room_not_live"


async def test_a_prize_nobody_claims_in_time_lapses_and_its_unit_comes_back(show: Show) -> None:
    ben, ben_socket = await show.viewer("Ben")
    giveaway = await show.start(duration_s=10)
    await enter(ben_socket, giveaway["id"])
    show.clock.advance(11)
    order = (await ben_socket.expect("giveaway.won"))["order"]  # private: it may come first
    assert await show.stock() == 2
    show.clock.advance(601)
    lapsed = await ben_socket.expect("order.lapsed")
    assert lapsed["order"]["id"] == order["id"]
    assert lapsed["order"]["state"] == "lapsed"
    claim = await show.http.post(
        f"/api/v1/orders/{order['id']}/claim", json={"address": ADDRESS}, headers=ben.headers
    )
    assert claim.status_code == 409
    assert claim.json()["code"] == "order_lapsed"
    assert await show.stock() == 3
    listed = await show.http.get(f"/api/v1/rooms/{show.room['id']}/giveaways")
    assert [g["result"]["winner"]["id"] for g in listed.json()["giveaways"]] == [ben.id]
    results = await show.http.get(
        f"/api/v1/rooms/{show.room['id']}/results", headers=show.host.headers
    )
    moments = [m for m in results.json()["markers"] if m["kind"] == "giveaway"]
    assert [(m["title"], m["entrants"], m["winner"]) for m in moments] == [
        ("Hand-dyed yarn", 1, ben.name)
    ]
    assert results.json()["summary"]["orders"] == 0  # a prize is no sale

    # Ben deletes his account: the draw stays checkable by his id, his name is gone.
    gone = await show.http.request(
        "DELETE", "/api/v1/me", json={"password": "correct horse battery"}, headers=ben.headers
    )
    assert gone.status_code == 204, gone.text
    result = (await show.read(giveaway["id"]))["result"]
    assert result["winner"] == {"id": ben.id, "name": ""}
    assert verify(giveaway["commitment"], result["seed"], result["entrant_ids"], ben.id)
