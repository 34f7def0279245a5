"""A creator runs lots; viewers bid by one tap or by a max; the highest max wins and pays."""

from __future__ import annotations

from tests.helpers import ADDRESS, PAID, reply_to
from tests.livecommerce.auctions.conftest import Show, bid


async def test_two_viewers_bid_the_higher_max_wins_at_one_step_over_the_other_and_pays(
    show: Show,
) -> None:
    kari, kari_socket = await show.viewer("Kari")
    ola, ola_socket = await show.viewer("Ola")
    lot = await show.lot(starting_bid=1000)
    assert (lot["state"], lot["current_bid"], lot["next_bid"]) == ("active", 0, 1000)
    assert lot["high_bidder"] is None
    started = await kari_socket.expect("auction.started")
    assert started["auction"]["id"] == lot["id"]
    assert await show.stock() == 2  # the lot's unit left stock when it was queued

    # Kari taps Bid at the starting price; Ola sets a max of 50.00.
    taken = await bid(kari_socket, lot["id"], 1000, "k1")
    assert taken == {
        "type": "bid.accepted", "ref": "k1", "auction_id": lot["id"], "amount": 1000,
        "max": 1000, "leading": True,
    }  # fmt: skip
    taken = await bid(ola_socket, lot["id"], 5000, "o1")
    assert (taken["amount"], taken["leading"]) == (1100, True)  # 10.00 + the 1.00 step
    outbid = await kari_socket.expect("outbid")
    assert outbid == {
        "type": "outbid", "auction_id": lot["id"], "amount": 1100, "next_bid": 1200
    }  # fmt: skip
    seen = await kari_socket.expect("auction.bid", lambda e: e["amount"] == 1100)
    assert seen["bidder"] == {"id": ola.id, "name": "Ola"}
    assert seen["next_bid"] == 1200

    # Kari goes to 30.00: the proxy answers for Ola at 30.00 + 2.00 (the 30-50 band).
    taken = await bid(kari_socket, lot["id"], 3000, "k2")
    assert (taken["amount"], taken["max"], taken["leading"]) == (3200, 3000, False)

    show.clock.advance(31)
    ended = await show.studio.expect("auction.ended")
    assert ended == {
        "type": "auction.ended", "seq": ended["seq"], "auction_id": lot["id"], "reason": "sold",
        "winner": {"id": ola.id, "name": "Ola"}, "amount": 3200,
    }  # fmt: skip
    won = await ola_socket.expect("auction.won")
    order = won["order"]
    assert (order["state"], order["amount"], order["buyer"]["id"]) == (
        "awaiting_payment", 3200, ola.id
    )  # fmt: skip
    assert order["pay_by"] == order["created_at"] + 60_000

    paid = await show.http.post(
        f"/api/v1/orders/{order['id']}/pay",
        json={"address": ADDRESS, "payment": PAID},
        headers={**ola.headers, "Idempotency-Key": "pay-lot-1"},
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["order"]["state"] == "paid"
    assert paid.json()["order"]["shipping"]["city"] == "Oslo"
    told = await show.studio.expect("order.created")
    assert told["order"]["id"] == order["id"]
    again = await show.http.post(
        f"/api/v1/orders/{order['id']}/pay",
        json={"address": ADDRESS, "payment": PAID},
        headers={**ola.headers, "Idempotency-Key": "pay-lot-1"},
    )
    assert again.json()["order"]["payment"]["ref"] == paid.json()["order"]["payment"]["ref"]
    mine = (await show.http.get("/api/v1/orders", headers=ola.headers)).json()["orders"]
    assert [o["id"] for o in mine] == [order["id"]]

    final = (await show.http.get(f"/api/v1/auctions/{lot['id']}")).json()
    assert final["state"] == "ended"
    assert final["result"] == {
        "reason": "sold", "winner": {"id": ola.id, "name": "Ola"}, "amount": 3200,
        "order_id": order["id"],
    }  # fmt: skip
    history = (await show.http.get(f"/api/v1/auctions/{lot['id']}/bids")).json()["bids"]
    assert [(b["amount"], b["bidder"]["name"]) for b in history] == [
        (1000, "Kari"), (1100, "Ola"), (3200, "Ola")
    ]  # fmt: skip
    assert all("max" not in b for b in history)
    assert kari.id not in {b["bidder"]["id"] for b in history[1:]}


async def test_a_late_bid_extends_a_standard_lot_but_never_a_sudden_death_one(
    show: Show,
) -> None:
    _, kari = await show.viewer("Kari")
    lot = await show.lot(duration_s=30, extend_s=10)
    show.clock.advance(25)  # five seconds left
    await bid(kari, lot["id"], 1000, "late")
    moved = await kari.expect("auction.bid")
    assert moved["ends_at"] == show.clock.now_ms() + 10_000

    show.clock.advance(9)  # past the first end, within the extension
    taken = await bid(kari, lot["id"], 1500, "raise")
    assert taken["type"] == "bid.accepted"
    show.clock.advance(11)
    await kari.expect("auction.ended")

    sudden = await show.lot(ref="sd", mode="sudden_death", duration_s=30)
    show.clock.advance(29)
    await bid(kari, sudden["id"], 1000, "sd1")
    bid_event = await kari.expect("auction.bid", lambda e: e["auction_id"] == sudden["id"])
    assert bid_event["ends_at"] == sudden["ends_at"]
    show.clock.advance(1)
    refused = await bid(kari, sudden["id"], 2000, "sd2")
    assert refused["code"] == "auction_not_active"


async def test_a_lot_without_bids_or_under_its_reserve_gives_its_unit_back(show: Show) -> None:
    _, kari = await show.viewer("Kari")
    lot = await show.lot(reserve_price=5000)
    assert lot["reserve_met"] is False
    taken = await bid(kari, lot["id"], 2000, "under")
    assert taken["amount"] == 1000  # the reserve is never shown by the price
    show.clock.advance(31)
    ended = await kari.expect("auction.ended")
    assert ended["reason"] == "reserve_not_met"
    assert "winner" not in ended

    empty = await show.lot(ref="empty")
    show.clock.advance(31)
    assert (await kari.expect("auction.ended", lambda e: e["auction_id"] == empty["id"]))[
        "reason"
    ] == "no_bids"
    await show.studio.send({"type": "ping", "ref": "sync"})
    await reply_to(show.studio, "sync")
    assert await show.stock() in (2, 3)  # both units on their way back


async def test_a_reserve_met_lifts_the_price_to_it(show: Show) -> None:
    _, kari = await show.viewer("Kari")
    lot = await show.lot(reserve_price=5000)
    taken = await bid(kari, lot["id"], 6000, "over")
    assert taken["amount"] == 5000
    show.clock.advance(31)
    ended = await kari.expect("auction.ended")
    assert (ended["reason"], ended["amount"]) == ("sold", 5000)
