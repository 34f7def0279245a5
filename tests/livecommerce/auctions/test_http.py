"""The same lots over HTTP: a merchant's backend runs the sheet, a script bids, a buyer pays."""

from __future__ import annotations

from typing import Any

from tests.helpers import ADDRESS, PAID, User, appoint, hold_for, pay, sign_up, start_sale
from tests.livecommerce.auctions.conftest import Show


async def _post(
    show: Show, path: str, who: User, body: object = None, key: str = ""
) -> dict[str, Any]:
    headers = {**who.headers, **({"Idempotency-Key": key} if key else {})}
    answer = await show.http.post(path, json=body, headers=headers)
    found: dict[str, Any] = answer.json()
    found["status"] = answer.status_code
    return found


async def test_a_backend_queues_starts_and_cancels_lots_and_bidders_bid_over_http(
    show: Show,
) -> None:
    room_id, product_id = show.room["id"], show.product["id"]
    kari, ola = await sign_up(show.http, "Kari"), await sign_up(show.http, "Ola")
    draft = {"product_id": product_id, "starting_bid": 200, "duration_s": 60}
    queued = await _post(show, f"/api/v1/rooms/{room_id}/auctions", show.host, draft)
    assert (queued["status"], queued["state"]) == (201, "queued")
    refused = await _post(show, f"/api/v1/rooms/{room_id}/auctions", kari, draft)
    assert (refused["status"], refused["code"]) == (403, "forbidden")
    bad = await _post(show, f"/api/v1/rooms/{room_id}/auctions", show.host, {**draft, "start": 1})
    assert (bad["status"], bad["code"]) == (400, "bad_request")

    started = await _post(show, f"/api/v1/auctions/{queued['id']}/start", show.host)
    assert (started["status"], started["state"]) == (200, "active")
    path = f"/api/v1/auctions/{queued['id']}/bids"
    first = await _post(show, path, kari, {"amount": 200}, key="kari-1")
    assert (first["status"], first["amount"], first["leading"]) == (201, 200, True)
    again = await _post(show, path, kari, {"amount": 200}, key="kari-1")
    assert {k: again[k] for k in ("amount", "max")} == {"amount": 200, "max": 200}
    low = await _post(show, path, ola, {"amount": 250}, key="ola-1")
    assert (low["status"], low["code"], low["next_bid"]) == (409, "bid_too_low", 300)
    keyless = await _post(show, path, ola, {"amount": 300})
    assert (keyless["status"], keyless["code"]) == (400, "bad_request")
    over = await _post(show, path, ola, {"amount": 900}, key="ola-2")
    assert (over["amount"], over["leading"]) == (300, True)

    lots = (await show.http.get(f"/api/v1/rooms/{room_id}/auctions")).json()["auctions"]
    assert [(a["id"], a["current_bid"], a["high_bidder"]["name"]) for a in lots] == [
        (queued["id"], 300, "Ola")
    ]
    mod = await sign_up(show.http, "Mo")
    await appoint(show.http, show.host, room_id, mod)
    voided = await _post(
        show, f"/api/v1/auctions/{queued['id']}/void", mod, {"user_id": ola.id, "reason": "x"}
    )
    assert (voided["status"], voided["high_bidder"]["name"]) == (200, "Kari")
    no_one = await _post(show, f"/api/v1/auctions/{queued['id']}/void", mod, {"user_id": 5})
    assert no_one["status"] == 400
    nobody = await _post(show, f"/api/v1/auctions/{queued['id']}/void", mod, {"user_id": ola.id})
    assert (nobody["status"], nobody["code"]) == (409, "conflict")

    early = await _post(show, f"/api/v1/auctions/{queued['id']}/second-chance", show.host)
    assert (early["status"], early["code"]) == (409, "conflict")
    cancelled = await _post(show, f"/api/v1/auctions/{queued['id']}/cancel", show.host)
    assert cancelled["result"] == {"reason": "cancelled"}
    twice = await _post(show, f"/api/v1/auctions/{queued['id']}/cancel", show.host)
    assert (twice["status"], twice["code"]) == (409, "auction_not_active")

    at_once = await _post(
        show, f"/api/v1/rooms/{room_id}/auctions", show.host, {**draft, "start": True}
    )
    assert (at_once["status"], at_once["state"]) == (201, "active")
    missing = await show.http.get("/api/v1/auctions/a_nothing")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


async def test_a_flash_sales_order_is_not_paid_through_the_auction_route(show: Show) -> None:
    hosting = show.studio
    sale = await start_sale(hosting, show.product["id"], units=1, price=100)
    kari = await sign_up(show.http, "Kari")
    hold = await hold_for(show.server, show.room, sale, kari)
    order = (await pay(show.http, kari, hold["id"], PAID, "kari-pays-1")).json()["order"]
    answer = await show.http.post(
        f"/api/v1/orders/{order['id']}/pay",
        json={"address": ADDRESS, "payment": PAID},
        headers={**kari.headers, "Idempotency-Key": "kari-pays-2"},
    )
    assert (answer.status_code, answer.json()["code"]) == (409, "conflict")
