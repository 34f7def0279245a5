"""After the hammer: the winner pays in time, or the order lapses and the runner-up is asked."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import timeout
from tests.helpers import (
    ADDRESS,
    PAID,
    FakeClock,
    User,
    add_product,
    appoint,
    join,
    open_room,
    reply_to,
    sign_up,
)
from tests.livecommerce.auctions.conftest import Show, bid
from tests.livecommerce.conftest import ServerFactory


async def _pay(show: Show, buyer: User, order_id: str, key: str) -> dict[str, object]:
    answer = await show.http.post(
        f"/api/v1/orders/{order_id}/pay",
        json={"address": ADDRESS, "payment": PAID},
        headers={**buyer.headers, "Idempotency-Key": key},
    )
    body: dict[str, object] = answer.json()
    body["status"] = answer.status_code
    return body


async def _stock_becomes(show: Show, units: int) -> None:
    async with asyncio.timeout(timeout(5)):
        while await show.stock() != units:  # noqa: ASYNC110 (the ticker gives it back)
            await asyncio.sleep(0.05)


async def test_an_unpaid_lot_lapses_with_a_strike_and_goes_to_the_runner_up(show: Show) -> None:
    kari, kari_socket = await show.viewer("Kari")
    ola, ola_socket = await show.viewer("Ola")
    lot = await show.lot()
    await bid(kari_socket, lot["id"], 2000, "k")
    await bid(ola_socket, lot["id"], 4000, "o")
    show.clock.advance(31)
    order = (await ola_socket.expect("auction.won"))["order"]
    assert await show.stock() == 2

    show.clock.advance(61)  # the minute to pay is over
    lapsed = await show.studio.expect("order.lapsed")
    assert (lapsed["order"]["id"], lapsed["order"]["state"]) == (order["id"], "lapsed")
    assert (await ola_socket.expect("order.lapsed"))["order"]["id"] == order["id"]
    late = await _pay(show, ola, order["id"], "too-late-1")
    assert (late["status"], late["code"]) == (409, "order_lapsed")
    await _stock_becomes(show, 3)  # the unit is back on the shelf

    # Second chance: Kari is offered the lot at her max.
    await show.studio.send(
        {"type": "auction.second_chance", "auction_id": lot["id"], "ref": "again"}
    )
    assert (await reply_to(show.studio, "again"))["type"] == "ack"
    offer = await kari_socket.expect("auction.won")
    assert offer["second_chance"] is True
    assert (offer["order"]["amount"], offer["order"]["buyer"]["id"]) == (2000, kari.id)
    await _stock_becomes(show, 2)
    paid = await _pay(show, kari, offer["order"]["id"], "second-chance-1")
    assert paid["status"] == 200
    await show.studio.send(
        {"type": "auction.second_chance", "auction_id": lot["id"], "ref": "twice"}
    )
    assert (await reply_to(show.studio, "twice"))["code"] == "conflict"


async def test_an_unpaid_lot_past_the_strike_limit_and_the_account_may_no_longer_bid(
    start_server: ServerFactory,
) -> None:
    clock = FakeClock()
    server = await start_server(clock=clock, auction_pay_s=60, limit_bid="0", auction_strikes=1)
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
        product = await add_product(http, host, sku="LP", stock=5)
        studio = await join(server.ws_url, room["id"], host)
        show = Show(server, http, clock, host, room, product, studio)
        _, kari = await show.viewer("Kari")
        lot = await show.lot()
        await bid(kari, lot["id"], 1000, "first")
        clock.advance(31)
        await kari.expect("auction.won")
        clock.advance(61)
        await kari.expect("order.lapsed")
        second = await show.lot(ref="second")
        refused = await bid(kari, second["id"], 1000, "again")
        assert (refused["code"], refused["message"]) == (
            "forbidden",
            "you left too many lots unpaid to bid again",
        )


async def test_paying_is_the_winners_alone_and_a_declined_card_leaves_it_payable(
    show: Show,
) -> None:
    ola, ola_socket = await show.viewer("Ola")
    other = await sign_up(show.http, "Mallory")
    lot = await show.lot()
    await bid(ola_socket, lot["id"], 1000, "o")
    show.clock.advance(31)
    order = (await ola_socket.expect("auction.won"))["order"]

    stranger = await _pay(show, other, order["id"], "not-mine-1")
    assert (stranger["status"], stranger["code"]) == (403, "forbidden")
    declined = await show.http.post(
        f"/api/v1/orders/{order['id']}/pay",
        json={"address": ADDRESS, "payment": {**PAID, "card_number": "4000 0000 0000 0002"}},
        headers={**ola.headers, "Idempotency-Key": "declined-1"},
    )
    assert declined.status_code == 402
    no_key = await show.http.post(
        f"/api/v1/orders/{order['id']}/pay",
        json={"address": ADDRESS, "payment": PAID},
        headers=ola.headers,
    )
    assert no_key.status_code == 400
    paid = await _pay(show, ola, order["id"], "good-card-1")
    assert paid["status"] == 200
    # A key tied to this order cannot pay for anything else, and vice versa.
    assert (await _pay(show, ola, order["id"], "good-card-1"))["status"] == 200


async def test_a_moderator_voids_a_fraudulent_bidder_and_the_price_falls_back(show: Show) -> None:
    kari, kari_socket = await show.viewer("Kari")
    shill, shill_socket = await show.viewer("Shill")
    mod = await sign_up(show.http, "Mo")
    await appoint(show.http, show.host, show.room["id"], mod)
    mod_socket = await join(show.server.ws_url, show.room["id"], mod)
    lot = await show.lot()
    await bid(kari_socket, lot["id"], 3000, "k")
    await bid(shill_socket, lot["id"], 9000, "s")
    refused = await bid(mod_socket, lot["id"], 20000, "m")
    assert refused["code"] == "forbidden"  # moderators never bid

    await mod_socket.send(
        {"type": "auction.void", "auction_id": lot["id"], "user_id": shill.id, "ref": "v",
         "reason": "shill account"}
    )  # fmt: skip
    voided = await reply_to(mod_socket, "v")
    assert voided["auction"]["high_bidder"] == {"id": kari.id, "name": "Kari"}
    assert voided["auction"]["current_bid"] == 1000  # the starting bid: nobody else is left
    seen = await kari_socket.expect("auction.voided")
    assert (seen["user_id"], seen["amount"], seen["bidder"]["id"]) == (shill.id, 1000, kari.id)
    audit = await show.http.get(f"/api/v1/rooms/{show.room['id']}/audit", headers=show.host.headers)
    entry = audit.json()["entries"][0]
    assert (entry["action"], entry["target"]["user_id"], entry["reason"]) == (
        "auction.void", shill.id, "shill account"
    )  # fmt: skip
    history = (await show.http.get(f"/api/v1/auctions/{lot['id']}/bids")).json()["bids"]
    assert [b["voided"] for b in history] == [False, True]
    assert all("max" not in b and "placed_by" not in b for b in history)
    as_mod = await show.http.get(f"/api/v1/auctions/{lot['id']}/bids", headers=mod.headers)
    assert [(b["placed_by"]["id"], b["max"]) for b in as_mod.json()["bids"]] == [
        (kari.id, 3000), (shill.id, 9000)
    ]  # fmt: skip
    as_kari = await show.http.get(f"/api/v1/auctions/{lot['id']}/bids", headers=kari.headers)
    assert all("max" not in b for b in as_kari.json()["bids"])

    await kari_socket.send(
        {"type": "auction.void", "auction_id": lot["id"], "user_id": kari.id, "ref": "kv"}
    )
    assert (await reply_to(kari_socket, "kv"))["code"] == "forbidden"


async def test_pre_bids_on_the_run_sheet_count_from_the_start_and_a_rejoin_sees_them(
    show: Show,
) -> None:
    kari, kari_socket = await show.viewer("Kari")
    await show.studio.send(
        {"type": "auction.queue", "product_id": show.product["id"], "starting_bid": 500,
         "duration_s": 20, "ref": "q"}
    )  # fmt: skip
    queued = (await reply_to(show.studio, "q"))["auction"]
    assert (queued["state"], queued["ends_at"]) == ("queued", 0)
    assert (await kari_socket.expect("auction.queued"))["auction"]["id"] == queued["id"]
    taken = await bid(kari_socket, queued["id"], 2500, "pre")
    assert (taken["amount"], taken["leading"]) == (500, True)

    back = await join(show.server.ws_url, show.room["id"], kari)
    welcome = back.seen[0]
    assert [a["id"] for a in welcome["auctions"]] == [queued["id"]]
    assert welcome["auctions"][0]["high_bidder"]["id"] == kari.id
    assert welcome["you"]["bids"] == {queued["id"]: 2500}

    await show.studio.send({"type": "auction.start", "auction_id": queued["id"], "ref": "go"})
    started = (await reply_to(show.studio, "go"))["auction"]
    assert (started["state"], started["current_bid"]) == ("active", 500)
    assert started["ends_at"] == show.clock.now_ms() + 20_000
    await show.studio.send({"type": "auction.start", "auction_id": queued["id"], "ref": "2"})
    assert (await reply_to(show.studio, "2"))["code"] == "auction_not_active"


async def test_one_lot_at_a_time_and_the_host_may_cancel_one(show: Show) -> None:
    _, kari = await show.viewer("Kari")
    first = await show.lot()
    await show.studio.send(
        {"type": "auction.start", "product_id": show.product["id"], "starting_bid": 100,
         "duration_s": 10, "ref": "busy"}
    )  # fmt: skip
    busy = await reply_to(show.studio, "busy")
    assert busy["code"] == "conflict"
    assert await show.stock() == 2  # the refused lot never took a unit

    await bid(kari, first["id"], 1000, "k")
    await show.studio.send({"type": "auction.cancel", "auction_id": first["id"], "ref": "c"})
    cancelled = (await reply_to(show.studio, "c"))["auction"]
    assert cancelled["result"] == {"reason": "cancelled"}
    ended = await kari.expect("auction.ended")
    assert ended["reason"] == "cancelled"
    assert "winner" not in ended
    await _stock_becomes(show, 3)
    refused = await bid(kari, first["id"], 5000, "after")
    assert refused["code"] == "auction_not_active"

    viewer_start = await bid(kari, "a_missing", 100, "x")
    assert viewer_start["code"] == "not_found"


async def test_a_banned_viewer_cannot_bid_and_an_ended_show_cancels_its_lots(show: Show) -> None:
    kari, kari_socket = await show.viewer("Kari")
    troll, troll_socket = await show.viewer("Troll")
    lot = await show.lot()
    await show.studio.send({"type": "mod.ban", "user_id": troll.id, "ref": "ban"})
    await reply_to(show.studio, "ban")
    refused = await bid(troll_socket, lot["id"], 1000, "t")
    assert refused["code"] == "banned"
    await show.studio.send(
        {"type": "auction.queue", "product_id": show.product["id"], "starting_bid": 500,
         "duration_s": 20, "ref": "q"}
    )  # fmt: skip
    queued = (await reply_to(show.studio, "q"))["auction"]
    await bid(kari_socket, lot["id"], 1000, "k")
    assert await show.stock() == 1

    ended = await show.http.post(f"/api/v1/rooms/{show.room['id']}/end", headers=show.host.headers)
    assert ended.status_code == 200
    closed = {
        (await kari_socket.expect("auction.ended"))["auction_id"],
        (await kari_socket.expect("auction.ended"))["auction_id"],
    }
    assert closed == {lot["id"], queued["id"]}
    await _stock_becomes(show, 3)
    refused = await bid(kari_socket, lot["id"], 5000, "late")
    assert refused["code"] == "auction_not_active"
    assert kari.id != troll.id


async def test_a_long_run_sheet_is_all_in_the_welcome_in_order_with_the_last_result(
    show: Show,
) -> None:
    many = await show.http.patch(
        f"/api/v1/products/{show.product['id']}", json={"stock": 40}, headers=show.host.headers
    )
    assert many.status_code == 200, many.text
    sold = await show.lot(ref="first", duration_s=5)
    ids = []
    for n in range(30):
        await show.studio.send(
            {"type": "auction.queue", "product_id": show.product["id"], "starting_bid": 100 + n,
             "duration_s": 10, "ref": f"q{n}"}
        )  # fmt: skip
        ids.append((await reply_to(show.studio, f"q{n}"))["auction"]["id"])
    show.clock.advance(6)
    await show.studio.expect("auction.ended", lambda e: e["auction_id"] == sold["id"])
    welcome = (await join(show.server.ws_url, show.room["id"])).seen[0]
    assert [a["id"] for a in welcome["auctions"]] == [*ids, sold["id"]]
    assert welcome["auctions"][-1]["result"] == {"reason": "no_bids"}
