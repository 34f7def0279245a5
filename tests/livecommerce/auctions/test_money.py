"""Money around a lot: the merchant's backend hears of it, and no charge outlives its order."""

from __future__ import annotations

import orjson

from livecommerce.selling.charges import ORDER_CHARGE
from livecommerce.selling.ledger import OpenCharge
from livecommerce.selling.payments import parse_card
from livecommerce.store import keys
from tests.helpers import ADDRESS, PAID, join
from tests.livecommerce.auctions.conftest import Show, bid
from tests.receivers import StartReceiver


async def test_the_merchant_hears_of_the_win_and_of_the_lapse(
    show: Show, start_receiver: StartReceiver
) -> None:
    receiver = await start_receiver()
    added = await show.http.post(
        "/api/v1/webhooks",
        json={"url": receiver.url, "events": ["auction.won", "order.lapsed"]},
        headers=show.host.headers,
    )
    assert added.status_code == 201, added.text
    ola, ola_socket = await show.viewer("Ola")
    lot = await show.lot()
    await bid(ola_socket, lot["id"], 1500, "o")
    show.clock.advance(31)
    order = (await ola_socket.expect("auction.won"))["order"]
    show.clock.advance(61)
    await ola_socket.expect("order.lapsed")

    requests = await receiver.wait_for(2)
    events = [orjson.loads(r.body) for r in requests]
    assert [e["type"] for e in events] == ["auction.won", "order.lapsed"]
    won, lapsed = (e["data"] for e in events)
    assert (won["auction_id"], won["order"]["id"], won["order"]["amount"]) == (
        lot["id"], order["id"], 1000
    )  # fmt: skip
    assert (lapsed["id"], lapsed["state"], lapsed["strikes"]) == (order["id"], "lapsed", 1)
    assert ola.id == lapsed["buyer"]["id"]


async def test_a_charge_for_a_lot_whose_order_lapsed_unpaid_is_given_back(show: Show) -> None:
    server = show.server
    assert server.checkout is not None
    assert server.sweeper is not None
    await server.sweeper.stop()  # this story sweeps by itself
    ola, ola_socket = await show.viewer("Ola")
    lot = await show.lot()
    await bid(ola_socket, lot["id"], 1500, "o")
    show.clock.advance(31)
    order = (await ola_socket.expect("auction.won"))["order"]

    # What a process that died between the charge and marking the order paid leaves.
    key = f"{ola.id}|ola-pays-0001"
    note = OpenCharge(key, show.room["id"], "", ORDER_CHARGE + order["id"], ola.id, 1000, "EUR")
    await server.checkout.ledger.open(note, look_at=0)
    charged = await server.checkout.payments.charge(
        amount=1000,
        currency="EUR",
        card=parse_card(PAID, now=show.clock()),
        idempotency_key=key,
        description="First pressing (auction)",
    )
    assert await server.sweeper.sweep() == 0  # still payable: Ola may retry
    show.clock.advance(61)
    await ola_socket.expect("order.lapsed")
    show.clock.advance(3)
    assert await server.sweeper.sweep() == 1
    refunded = await server.checkout.store.client.hget(
        keys.payment(charged.payment_ref), "refunded"
    )
    assert refunded == b"1000"
    assert await server.checkout.ledger.count() == 0


async def test_a_charge_that_paid_its_lot_stays_paid(show: Show) -> None:
    server = show.server
    assert server.checkout is not None
    assert server.sweeper is not None
    await server.sweeper.stop()
    ola, ola_socket = await show.viewer("Ola")
    lot = await show.lot()
    await bid(ola_socket, lot["id"], 1500, "o")
    show.clock.advance(31)
    order = (await ola_socket.expect("auction.won"))["order"]
    paid = await show.http.post(
        f"/api/v1/orders/{order['id']}/pay",
        json={"address": ADDRESS, "payment": PAID},
        headers={**ola.headers, "Idempotency-Key": "ola-pays-0002"},
    )
    ref = paid.json()["order"]["payment"]["ref"]
    # The process died before it closed its ledger note: the sweep keeps the money.
    key = f"{ola.id}|ola-pays-0002"
    note = OpenCharge(key, show.room["id"], "", ORDER_CHARGE + order["id"], ola.id, 1000, "EUR")
    await server.checkout.ledger.open(note, look_at=0)
    assert await server.sweeper.sweep() == 0
    assert await server.checkout.ledger.count() == 0
    kept = await server.checkout.store.client.hget(keys.payment(ref), "refunded")
    assert kept == b"0"


async def test_an_unpaid_lot_cannot_be_refunded_and_a_paid_one_can(show: Show) -> None:
    ola, ola_socket = await show.viewer("Ola")
    lot = await show.lot()
    await bid(ola_socket, lot["id"], 1500, "o")
    show.clock.advance(31)
    order = (await ola_socket.expect("auction.won"))["order"]
    refund = f"/api/v1/orders/{order['id']}/refund"
    early = await show.http.post(refund, headers=show.host.headers)
    assert (early.status_code, early.json()["code"]) == (409, "conflict")
    paid = await show.http.post(
        f"/api/v1/orders/{order['id']}/pay",
        json={"address": ADDRESS, "payment": PAID},
        headers={**ola.headers, "Idempotency-Key": "ola-pays-0003"},
    )
    assert paid.status_code == 200
    refunded = await show.http.post(refund, headers=show.host.headers)
    assert (refunded.status_code, refunded.json()["state"]) == (200, "refunded")
    assert refunded.json()["refund"]["status"] == "refunded"


async def test_a_bidder_exports_their_bids_and_once_deleted_their_bids_show_nobody(
    show: Show,
) -> None:
    kari, kari_socket = await show.viewer("Kari")
    lot = await show.lot()
    await bid(kari_socket, lot["id"], 2500, "k1")
    await bid(kari_socket, lot["id"], 3000, "k2")
    export = (await show.http.get("/api/v1/me/export", headers=kari.headers)).json()
    assert export["bids"] == [
        {"auction_id": lot["id"], "room_id": show.room["id"], "title": "First pressing",
         "currency": "EUR", "max": 3000, "state": "active", "won": False, "amount": None}
    ]  # fmt: skip

    deleted = await show.http.request(
        "DELETE", "/api/v1/me", json={"password": "correct horse battery"}, headers=kari.headers
    )
    assert deleted.status_code == 204
    shown = (await show.http.get(f"/api/v1/auctions/{lot['id']}")).json()
    assert shown["high_bidder"] == {"id": "deleted", "name": ""}
    history = (await show.http.get(f"/api/v1/auctions/{lot['id']}/bids")).json()["bids"]
    assert {b["bidder"]["id"] for b in history} == {"deleted"}
    late = await join(show.server.ws_url, show.room["id"])
    assert late.seen[0]["auctions"][0]["high_bidder"] == {"id": "deleted", "name": ""}
    resumed = await join(
        show.server.ws_url, show.room["id"], since=1, epoch=late.seen[0]["epoch"], welcome=False
    )
    replayed = await resumed.expect("auction.bid")
    assert replayed["bidder"] == {"id": "deleted", "name": ""}
