"""Buyers rate what they bought, after a real checkout; nobody else can, and no order rates
a product twice."""

from __future__ import annotations

from typing import Any

import httpx

from livecommerce.server import Server
from tests.helpers import (
    PAID,
    User,
    add_product,
    hold_for,
    join,
    open_room,
    pay,
    sign_up,
    start_sale,
    tool,
)


async def bought(server: Server, http: httpx.AsyncClient, room: Any, sale: Any, buyer: User) -> Any:
    hold = await hold_for(server, room, sale, buyer)
    paid = await pay(http, buyer, hold["id"], PAID, f"review-{buyer.id}")
    assert paid.status_code == 201, paid.text
    return paid.json()["order"]


def review_url(order: Any, product_id: str) -> str:
    return f"/api/v1/orders/{order['id']}/reviews/{product_id}"


async def test_a_buyer_rates_what_they_bought_and_edits_it_and_nobody_else_can(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    jumper = await add_product(http, ada)
    hosting = await join(server.ws_url, room["id"], ada)
    await tool(hosting, "w", type="mod.words", words=["scam"])
    sale = await start_sale(hosting, jumper["id"], units=5, per_user_limit=1)
    kari, olav, liv = [await sign_up(http, n) for n in ("Kari", "Olav", "Liv")]
    order = await bought(server, http, room, sale, kari)
    url = review_url(order, jumper["id"])
    good = {"product_rating": 5, "seller_rating": 4, "text": "Warm and soft."}

    # Bad input, each with its own code.
    for body, status, code in [
        ({**good, "product_rating": 0}, 400, "bad_rating"),
        ({**good, "seller_rating": "5"}, 400, "bad_rating"),
        ({**good, "text": "x" * 1001}, 400, "review_too_long"),
        ({**good, "text": "hi\u0007"}, 400, "bad_characters"),
        ({**good, "text": "what a SCAM"}, 400, "blocked_word"),
    ]:
        refused = await http.put(url, json=body, headers=kari.headers)
        assert (refused.status_code, refused.json()["code"]) == (status, code), body
    elsewhere = await http.put(review_url(order, "p_other"), json=good, headers=kari.headers)
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (404, "product_not_in_order")
    unsigned = await http.put(url, json=good)
    assert unsigned.status_code == 401

    # Olav tries Kari's order: he hears what he would of an order that does not exist.
    stranger = await http.put(url, json=good, headers=olav.headers)
    nobody = await http.put(review_url({"id": "o_nothing"}, jumper["id"]), json=good,
                            headers=olav.headers)  # fmt: skip
    assert stranger.status_code == nobody.status_code == 404
    assert stranger.json()["code"] == nobody.json()["code"] == "not_found"
    assert (await http.delete(url, headers=olav.headers)).status_code == 404

    # Kari rates; a retry is the same review; an edit moves the average.
    first = await http.put(url, json=good, headers=kari.headers)
    assert first.status_code == 201, first.text
    review = first.json()["review"]
    assert review["reviewer"] == {"id": kari.id, "name": "Kari"}
    retry = await http.put(url, json=good, headers=kari.headers)
    assert (retry.status_code, retry.json()["review"]["id"]) == (200, review["id"])

    liv_order = await bought(server, http, room, sale, liv)
    liv_says = await http.put(review_url(liv_order, jumper["id"]), headers=liv.headers,
                              json={"product_rating": 2, "seller_rating": 2})  # fmt: skip
    assert liv_says.status_code == 201
    page = (await http.get(f"/api/v1/products/{jumper['id']}/reviews")).json()
    assert page["rating"] == {"average": 3.5, "count": 2}
    assert [r["reviewer"]["name"] for r in page["reviews"]] == ["Liv", "Kari"]  # newest first
    assert "order_id" not in page["reviews"][0]

    edited = await http.put(url, json={**good, "product_rating": 3}, headers=kari.headers)
    assert (edited.status_code, edited.json()["review"]["product_rating"]) == (200, 3)
    product = (await http.get(f"/api/v1/products/{jumper['id']}")).json()
    assert product["rating"] == {"average": 2.5, "count": 2}
    seller = (await http.get(f"/api/v1/sellers/{ada.id}/rating")).json()
    assert (seller["average"], seller["count"]) == (3.0, 2)
    assert seller["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 0}
    mine = await http.get(url, headers=kari.headers)
    assert mine.json()["review"]["text"] == "Warm and soft."
    listed = (await http.get("/api/v1/reviews/mine", headers=kari.headers)).json()["reviews"]
    assert [(r["order_id"], r["product_id"]) for r in listed] == [(order["id"], jumper["id"])]

    # Liv takes hers back: both ratings lose it, and it cannot be taken back twice.
    liv_url = review_url(liv_order, jumper["id"])
    assert (await http.delete(liv_url, headers=liv.headers)).status_code == 204
    again = await http.delete(liv_url, headers=liv.headers)
    assert (again.status_code, again.json()["code"]) == (404, "review_not_found")
    seller = (await http.get(f"/api/v1/sellers/{ada.id}/rating")).json()
    assert (seller["average"], seller["count"]) == (4.0, 1)

    # A refunded order has nothing to rate.
    refunded = await http.post(f"/api/v1/orders/{liv_order['id']}/refund", headers=ada.headers)
    assert refunded.json()["state"] == "refunded"
    late = await http.put(liv_url, json=good, headers=liv.headers)
    assert (late.status_code, late.json()["code"], late.json()["state"]) == (
        409, "not_reviewable", "refunded"
    )  # fmt: skip


async def test_the_seller_hides_a_reported_text_and_a_deleted_reviewer_keeps_only_stars(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    jumper = await add_product(http, ada)
    hosting = await join(server.ws_url, room["id"], ada)
    sale = await start_sale(hosting, jumper["id"], units=5, per_user_limit=1)
    kari, olav, root = [await sign_up(http, n) for n in ("Kari", "Olav", "Root")]
    await server.account_store.set_admin(root.id, True)  # type: ignore[union-attr]
    order = await bought(server, http, room, sale, kari)
    url = review_url(order, jumper["id"])
    body = {"product_rating": 1, "seller_rating": 2, "text": "Terrible, the seller is a fool"}
    review = (await http.put(url, json=body, headers=kari.headers)).json()["review"]

    # Olav reports it (twice counts once); Ada sees it in her list, Olav may not.
    for _ in range(2):
        reported = await http.post(f"/api/v1/reviews/{review['id']}/report", headers=olav.headers)
        assert reported.status_code == 200
    nope = await http.post("/api/v1/reviews/rv_nothing/report", headers=olav.headers)
    assert (nope.status_code, nope.json()["code"]) == (404, "review_not_found")
    queue = f"/api/v1/sellers/{ada.id}/reviews?state=reported"
    assert (await http.get(queue, headers=olav.headers)).status_code == 403
    listed = (await http.get(queue, headers=ada.headers)).json()["reviews"]
    assert [(r["id"], r["reports"], r["text"]) for r in listed] == [(review["id"], 1, body["text"])]
    hide = f"/api/v1/reviews/{review['id']}/hide"
    assert (await http.post(hide, headers=olav.headers)).status_code == 403

    # Ada hides the words; the stars still count, and the action is in her audit trail.
    hidden = await http.post(hide, headers=ada.headers)
    assert (hidden.json()["review"]["hidden"], hidden.json()["review"]["text"]) == (True, "")
    assert (await http.get(queue, headers=ada.headers)).json()["reviews"] == []
    public = (await http.get(f"/api/v1/products/{jumper['id']}/reviews")).json()
    assert public["rating"] == {"average": 1.0, "count": 1}
    assert (public["reviews"][0]["text"], public["reviews"][0]["hidden"]) == ("", True)
    own = (await http.get(url, headers=kari.headers)).json()["review"]
    assert own["text"] == body["text"]  # the author still sees what they wrote
    # An operator may show it again.
    shown = await http.post(hide, json={"hidden": False}, headers=root.headers)
    assert shown.json()["review"]["text"] == body["text"]
    audit = (await http.get(f"/api/v1/sellers/{ada.id}/reviews/audit", headers=ada.headers)).json()
    assert [(e["action"], e["actor"]["id"]) for e in audit["entries"]] == [
        ("review.show", root.id), ("review.hide", ada.id)
    ]  # fmt: skip

    # Kari's export has her review; when she deletes her account only the stars remain.
    exported = (await http.get("/api/v1/me/export", headers=kari.headers)).json()
    assert [r["id"] for r in exported["reviews"]] == [review["id"]]
    gone = await http.request("DELETE", "/api/v1/me", headers=kari.headers,
                              json={"password": "correct horse battery"})  # fmt: skip
    assert gone.status_code == 204
    public = (await http.get(f"/api/v1/sellers/{ada.id}/reviews")).json()
    assert [(r["reviewer"]["id"], r["text"], r["product_rating"]) for r in public["reviews"]] == [
        ("deleted", "", 1)
    ]
    seller = (await http.get(f"/api/v1/sellers/{ada.id}/rating")).json()
    assert (seller["average"], seller["count"]) == (2.0, 1)
