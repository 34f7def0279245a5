"""Reviews in a real headless Chromium: a buyer rates from their orders on the show page, the
product card shows the stars to another viewer, and the creator sees their seller rating and
hides a reported text in the studio. Screenshots at 390x844 and 1280x800."""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from websockets.sync.client import connect

from .support import DESKTOP, PHONE, NewPage, Server, User, locale_strings, scaled, signed_in

pytestmark = pytest.mark.browser

EN = locale_strings("en")
CARD = {"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
ADDRESS = {"name": "Kari Nordmann", "line1": "Storgata 1", "postal_code": "0155",
           "city": "Oslo", "country": "NO"}  # fmt: skip


def command(server: Server, user: User, room_id: str, sent: dict[str, Any]) -> dict[str, Any]:
    """One command from ``user``'s own socket; the reply that carries its ref."""
    url = f"{server.ws_url}/ws/rooms/{room_id}?token={user.token}"
    with connect(url, subprotocols=["livecommerce.json"], open_timeout=scaled(10)) as ws:  # type: ignore[list-item]
        ws.send(json.dumps({**sent, "ref": "c"}))
        while True:
            frame = json.loads(ws.recv(timeout=scaled(10)))
            for reply in frame if isinstance(frame, list) else [frame]:
                if reply.get("ref") == "c":
                    return dict(reply)


def bought(server: Server, buyer: User, room_id: str, sale_id: str) -> dict[str, Any]:
    """``buyer`` holds a unit and pays for it: a real order."""
    hold = command(server, buyer, room_id, {"type": "reserve", "sale_id": sale_id, "quantity": 1})
    request = urllib.request.Request(
        server.url(f"/api/v1/reservations/{hold['reservation']['id']}/checkout"),
        data=json.dumps({"address": ADDRESS, "payment": CARD}).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {buyer.token}",
                 "Idempotency-Key": f"rv-{uuid.uuid4().hex}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=scaled(10)) as answer:
        order: dict[str, Any] = json.loads(answer.read())["order"]
    return order


def a_show_with_a_sale(server: Server, title: str) -> tuple[User, dict[str, Any], Any, Any]:
    host = server.create_user("host")
    room = server.create_room(host, title)
    server.start_room(host, room["id"])
    product = server.api(
        "POST", "/api/v1/products",
        {"sku": f"MUG-{uuid.uuid4().hex[:8]}", "title": "Stoneware mug", "price": 3500,
         "currency": "EUR", "stock": 20, "description": "Glazed by hand."},
        token=host.token,
    )  # fmt: skip
    server.api("PUT", f"/api/v1/rooms/{room['id']}/pin", {"product_id": product["id"]}, host.token)
    started = command(server, host, room["id"], {
        "type": "sale.start", "product_id": product["id"], "price": 2900, "units": 10,
        "per_user_limit": 1, "duration_s": 600, "hold_s": 60,
    })  # fmt: skip
    return host, room, product, started["sale"]


def joined(page: Page) -> None:
    expect(page.locator("body")).to_have_attribute("data-connection", "joined")


def test_a_buyer_rates_from_their_orders_and_another_viewer_sees_the_stars(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    _host, room, product, sale = a_show_with_a_sale(server, "Pottery evening")
    kari = server.create_user("kari")
    bought(server, kari, room["id"], sale["id"])

    # Kari, on her phone, opens her orders from the top bar and rates the mug.
    page = new_page(viewport=PHONE)
    signed_in(page, kari)
    page.goto(f"/rooms/{room['id']}")
    joined(page)
    expect(page.locator("#product-rating")).to_be_hidden()  # nobody has rated it yet
    page.get_by_role("button", name=EN["reviews.orders.open"]).click()
    orders = page.get_by_role("dialog", name=EN["reviews.orders.title"])
    expect(orders.get_by_text("Stoneware mug")).to_be_visible()
    page.screenshot(path=screenshots / "reviews-orders-390.png")
    orders.get_by_role("button", name="Rate Stoneware mug").click()
    sheet = page.get_by_role("dialog", name=EN["reviews.rate.title"])
    expect(sheet).to_be_visible()
    sheet.get_by_role("button", name=EN["reviews.rate.submit"]).click()
    expect(sheet.locator("#rate-error")).to_have_text(EN["reviews.rate.pick_both"])

    # Stars by keyboard: the first product star has focus; arrows move along the group.
    product_stars = sheet.get_by_role("group", name=EN["reviews.rate.product"])
    product_stars.get_by_label(EN["reviews.rate.star_1"]).focus()
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    expect(product_stars.get_by_label(EN["reviews.rate.star_5"])).to_be_checked()
    seller_stars = sheet.get_by_role("group", name=EN["reviews.rate.seller"])
    seller_stars.locator("label[for=rate-s4]").click()
    expect(seller_stars.get_by_label(EN["reviews.rate.star_4"])).to_be_checked()
    sheet.get_by_label(EN["reviews.rate.text"]).fill("Keeps my tea warm. Lovely glaze.")
    page.screenshot(path=screenshots / "reviews-rate-sheet-390.png")
    sheet.get_by_role("button", name=EN["reviews.rate.submit"]).click()
    expect(sheet).to_be_hidden()
    expect(orders.locator("#orders-status")).to_have_text(EN["reviews.rate.thanks"])
    expect(orders.get_by_role("button", name="Edit your rating of Stoneware mug")).to_be_visible()
    orders.get_by_role("button", name=EN["common.close"]).click()
    # Her own card now shows the rating she gave.
    expect(page.locator("#product-rating")).to_contain_text("5.0")
    page.locator("#product-card").screenshot(path=screenshots / "reviews-card-390.png")
    page.get_by_role("button", name=EN["shop.details"]).click()
    mine = page.get_by_role("dialog", name="Stoneware mug")
    expect(mine.get_by_text("Keeps my tea warm. Lovely glaze.")).to_be_visible()
    page.screenshot(path=screenshots / "reviews-details-390.png")
    mine.get_by_role("button", name=EN["common.close"]).click()

    # Another viewer, a guest at a desktop, sees the stars on the card and the words in Details.
    guest = new_page(viewport=DESKTOP)
    guest.goto(f"/rooms/{room['id']}")
    joined(guest)
    rating = guest.locator("#product-rating")
    expect(rating).to_be_visible()
    stars = rating.get_by_role("img")
    expect(stars).to_have_attribute("aria-label", "Rated 5.0 out of 5 by 1 buyer")
    expect(rating).to_contain_text("(1)")
    expect(guest.get_by_role("button", name=EN["reviews.orders.open"])).to_be_hidden()
    guest.get_by_role("button", name=EN["shop.details"]).click()
    details = guest.get_by_role("dialog", name="Stoneware mug")
    reviews = details.get_by_role("region", name=EN["reviews.heading"])
    expect(reviews.get_by_text("Keeps my tea warm. Lovely glaze.")).to_be_visible()
    expect(reviews.get_by_text(kari.display_name)).to_be_visible()
    guest.screenshot(path=screenshots / "reviews-details-1280.png")

    # The same sheets at a desktop: Kari edits her rating down to 3.
    desk = new_page(viewport=DESKTOP)
    signed_in(desk, kari)
    desk.goto(f"/rooms/{room['id']}")
    joined(desk)
    desk.get_by_role("button", name=EN["reviews.orders.open"]).click()
    desk.get_by_role("button", name="Edit your rating of Stoneware mug").click()
    edit = desk.get_by_role("dialog", name=EN["reviews.rate.title"])
    words = edit.get_by_label(EN["reviews.rate.text"])
    expect(words).to_have_value("Keeps my tea warm. Lovely glaze.")
    edit.locator("label[for=rate-p3]").click()
    desk.screenshot(path=screenshots / "reviews-rate-sheet-1280.png")
    edit.get_by_role("button", name=EN["reviews.rate.submit"]).click()
    expect(edit).to_be_hidden()
    expect(desk.locator("#product-rating")).to_contain_text("3.0")
    desk.locator("#product-card").screenshot(path=screenshots / "reviews-card-1280.png")
    # In Norwegian, with the decimal comma.
    norsk = new_page(viewport=PHONE, locale="nb-NO")
    norsk.goto(f"/rooms/{room['id']}")
    joined(norsk)
    expect(norsk.locator("#product-rating").get_by_role("img")).to_have_attribute(
        "aria-label", "Vurdert til 3,0 av 5 av 1 kjøper"
    )
    assert server.api("GET", f"/api/v1/products/{product['id']}")["rating"] == {
        "average": 3.0, "count": 1
    }  # fmt: skip


def test_the_creator_sees_their_rating_and_hides_a_reported_text_in_the_studio(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host, room, product, sale = a_show_with_a_sale(server, "Ceramics late show")
    for stars, words in [(5, "Perfect."), (4, ""), (1, "Rubbish seller, avoid")]:
        buyer = server.create_user("buyer")
        order = bought(server, buyer, room["id"], sale["id"])
        body = {"product_rating": stars, "seller_rating": stars, "text": words}
        review = server.api("PUT", f"/api/v1/orders/{order['id']}/reviews/{product['id']}",
                            body, buyer.token)["review"]  # fmt: skip
    reporter = server.create_user("olav")
    server.api("POST", f"/api/v1/reviews/{review['id']}/report", token=reporter.token)

    for viewport, name in [(DESKTOP, "1280"), (PHONE, "390")]:
        page = new_page(viewport=viewport)
        signed_in(page, host)
        page.goto("/studio")
        card = page.get_by_role("region", name=EN["reviews.studio.heading"])
        expect(card).to_be_visible()
        expect(card.locator(".seller-rating-average")).to_have_text("3.3")
        expect(card.locator(".seller-rating-count")).to_have_text("3 ratings")
        expect(card.get_by_text("Rubbish seller, avoid")).to_be_visible()
        card.screenshot(path=screenshots / f"reviews-studio-{name}.png")
    card.get_by_role("button", name=EN["reviews.studio.hide"]).click()
    expect(card.locator("#reviews-status")).to_have_text(EN["reviews.studio.hidden"])
    expect(card.get_by_text("Rubbish seller, avoid")).to_be_hidden()
    public = server.api("GET", f"/api/v1/products/{product['id']}/reviews")
    hidden = next(r for r in public["reviews"] if r["id"] == review["id"])
    assert (hidden["text"], hidden["hidden"], public["rating"]["count"]) == ("", True, 3)

    # Anyone opening the creator's page sees the same rating as a seller.
    visitor = new_page(viewport=PHONE)
    visitor.goto(f"/creators/{host.id}")
    rating = visitor.locator("#seller-rating")
    expect(rating.locator(".seller-rating-average")).to_have_text("3.3")
    expect(rating.locator(".seller-rating-count")).to_have_text("3 ratings")
    rating.screenshot(path=screenshots / "reviews-creator-page-390.png")
