"""Selling in a real headless Chromium: the studio pins and launches a flash sale, viewers see
the card, one buys through the checkout sheet, the other sees it sold out, the studio sees the
order.

Each test reads as a person's story; waits are Playwright's auto-waiting `expect`.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import FloatRect, Page, Route, expect

from .support import (
    DESKTOP,
    PHONE,
    ApiFailure,
    NewPage,
    Server,
    User,
    locale_strings,
    on_socket,
    signed_in,
)

pytestmark = pytest.mark.browser

EN = locale_strings("en")
IMAGE_HOST = "https://images.example.test"
# A product picture served by the test itself: the browser has no network.
PICTURE = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="160" height="160" viewBox="0 0 160 160">'
    b'<rect width="160" height="160" fill="#f1e3d3"/>'
    b'<path d="M22 104c18 0 34-10 46-26l14 6c10 5 22 8 34 8h22v24H22z" fill="#2a9d8f"/>'
    b'<rect x="22" y="110" width="116" height="12" rx="4" fill="#264653"/>'
    b"</svg>"
)
DECLINED = "4000000000000002"
PAYS = "4242424242424242"


def fill_in(text: str) -> str:
    """The fixed part of a locale string before its first placeholder."""
    return text.split("{", 1)[0].strip()


def serve_pictures(page: Page) -> None:
    def fulfil(route: Route) -> None:
        route.fulfill(status=200, content_type="image/svg+xml", body=PICTURE)

    page.route(f"{IMAGE_HOST}/**", fulfil)


def joined(page: Page) -> None:
    expect(page.locator("body")).to_have_attribute("data-connection", "joined")


def create_product(server: Server, host: User, **fields: Any) -> dict[str, Any]:
    body = {
        "sku": f"SKU-{uuid.uuid4().hex[:8]}",
        "title": "Court sneaker, white leather",
        "price": 24900,
        "currency": "EUR",
        "stock": 5,
        "image_url": f"{IMAGE_HOST}/sneaker.svg",
        "description": "Low top, leather lining.",
    }
    body.update(fields)
    product: dict[str, Any] = server.api("POST", "/api/v1/products", body, token=host.token)
    return product


def open_studio(new_page: NewPage, host: User, room_id: object) -> Page:
    studio = new_page(viewport=DESKTOP)
    serve_pictures(studio)
    signed_in(studio, host)
    studio.goto(f"/studio#{room_id}")
    joined(studio)
    return studio


def pin_and_sell(studio: Page, product: dict[str, Any], units: int) -> str:
    """The host pins the product and starts a flash sale of `units` from the studio; its id."""
    studio.get_by_role(
        "button", name=EN["studio.products.pin_named"].format(title=product["title"])
    ).click()
    studio.locator("#sale-units").fill(str(units))
    studio.locator("#sale-start").click()
    active = studio.locator("#sale-list .sale-row.active")
    expect(active).to_have_count(1)
    sale_id = active.get_attribute("data-sale-id")
    assert sale_id is not None
    return sale_id


def open_viewer(
    new_page: NewPage, room_id: object, user: User | None = None, *, expect_402: bool = False
) -> Page:
    # Chromium logs a declined card's 402 answer as a console error; that one is expected.
    expected = (r"status of 402 \(Payment Required\)",) if expect_402 else ()
    page = new_page(viewport=PHONE, expected_console_errors=expected)
    serve_pictures(page)
    if user is not None:
        signed_in(page, user)
    page.goto(f"/rooms/{room_id}")
    joined(page)
    return page


def fill_address(page: Page) -> None:
    page.get_by_label(EN["shop.checkout.name"]).fill("Kari Nordmann")
    page.get_by_label(EN["shop.checkout.line1"], exact=True).fill("Storgata 1")
    page.get_by_label(EN["shop.checkout.postal_code"]).fill("0155")
    page.get_by_label(EN["shop.checkout.city"]).fill("Oslo")
    page.get_by_label(EN["shop.checkout.country"]).select_option("NO")


def fill_card(page: Page, number: str) -> None:
    page.get_by_label(EN["shop.checkout.card_number"]).fill(number)
    page.get_by_label(EN["shop.checkout.exp_month"]).fill("12")
    page.get_by_label(EN["shop.checkout.exp_year"]).fill("2031")
    page.get_by_label(EN["shop.checkout.cvc"]).fill("123")


def test_a_flash_sale_from_pin_to_paid_order(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    product = create_product(server, host)
    room = server.create_room(host, "Sneaker drop", currency="EUR")
    title = str(product["title"])

    # The host goes live, pins the product and launches a sale of one unit, all in the studio.
    studio = open_studio(new_page, host, room["id"])
    studio.locator("#go-live").click()
    expect(studio.locator("#panel-state")).to_have_text(EN["room.state.live"])
    row = studio.locator("#product-list .product-row", has_text=title)
    expect(row).to_be_visible()
    row.get_by_role("button", name=EN["studio.products.pin_named"].format(title=title)).click()
    expect(row.locator(".pin-badge")).to_have_text(EN["studio.products.pinned"])
    expect(studio.locator("#pinned-line")).to_contain_text(title)

    expect(studio.locator("#sale-product")).to_have_value(str(product["id"]))
    expect(studio.locator("#sale-price")).to_have_value("249.00")
    studio.locator("#sale-price").fill("199.00")
    studio.locator("#sale-units").fill("1")
    studio.locator("#sale-duration").fill("900")
    studio.locator("#sale-hold").fill("120")
    studio.locator("#sale-start").click()
    sale_row = studio.locator("#sale-list .sale-row.active")
    expect(sale_row).to_have_count(1)
    expect(sale_row).to_contain_text(fill_in(EN["studio.sale.ends_in"]))
    expect(studio.locator("#count-available")).to_have_text("1")
    expect(studio.locator("#count-sold")).to_have_text("0")

    # Two signed-in viewers on phones see the card: sale price, the old price, units left and
    # a countdown.
    buyer = server.create_user("buyer")
    other = server.create_user("other")
    a = open_viewer(new_page, room["id"], buyer, expect_402=True)
    b = open_viewer(new_page, room["id"], other)
    for page in (a, b):
        card = page.locator("#product-card")
        expect(card).to_be_visible()
        expect(card.locator("#product-title")).to_have_text(title)
        expect(card.locator("#product-price")).to_have_text("€199.00")
        expect(card.locator("#product-was")).to_have_text("€249.00")
        expect(card.locator("#product-units")).to_have_text("1 left")
        expect(card.locator("#product-countdown")).to_have_text(re.compile(r"^Ends in 1[45]:\d\d$"))
        expect(card.locator("#buy-button")).to_be_visible()
    expect(a.locator("#product-image")).to_be_visible()
    a.screenshot(path=str(screenshots / "viewer-390-product-card.png"), animations="disabled")

    # A presses Buy: the card turns into a hold timer and the checkout sheet opens.
    a.locator("#buy-button").click()
    sheet = a.locator("#checkout-sheet")
    expect(sheet).to_be_visible()
    expect(a.locator("#hold-box")).to_be_visible()
    expect(a.locator("#buy-button")).to_be_hidden()
    expect(a.locator("#hold-timer")).to_have_text(re.compile(r"^[12]:\d\d$"))
    expect(a.locator("#checkout-hold-timer")).to_have_text(re.compile(r"^[12]:\d\d$"))
    expect(a.locator("#checkout-pay")).to_have_text("Pay €199.00")

    # The one unit is held: B sees it sold out (with the waitlist offered), the studio a hold.
    expect(b.locator("#product-units")).to_have_text(EN["shop.sold_out"])
    expect(b.locator("#buy-button")).to_be_hidden()
    expect(b.locator("#waitlist-button")).to_be_visible()
    expect(studio.locator("#count-held")).to_have_text("1")
    expect(studio.locator("#count-available")).to_have_text("0")

    # A declined card: a clear message, the sheet stays open, the hold stays.
    fill_address(a)
    fill_card(a, DECLINED)
    a.locator("#checkout-pay").click()
    expect(a.locator("#checkout-error")).to_have_text(EN["shop.error.payment_declined"])
    expect(sheet).to_be_visible()
    expect(a.locator("#checkout-form")).to_be_visible()
    expect(a.locator("#checkout-hold-timer")).to_have_text(re.compile(r"^[12]:\d\d$"))
    expect(a.locator("#checkout-pay")).to_be_enabled()
    a.screenshot(path=str(screenshots / "viewer-390-checkout-sheet.png"), animations="disabled")

    # A good card: the confirmation with the order number and the amount.
    fill_card(a, PAYS)
    a.locator("#checkout-pay").click()
    done = a.locator("#checkout-done")
    expect(done).to_be_visible()
    expect(a.locator("#checkout-form")).to_be_hidden()
    expect(a.locator("#order-amount")).to_have_text("€199.00")
    expect(a.locator("#order-id")).not_to_be_empty()
    order_id = a.locator("#order-id").inner_text()
    expect(a.locator("#order-card")).to_contain_text("4242")
    a.screenshot(path=str(screenshots / "viewer-390-order-confirmed.png"), animations="disabled")
    a.locator("#checkout-done-close").click()
    expect(sheet).to_be_hidden()
    expect(a.locator("#product-notice")).to_contain_text(order_id)
    expect(a.locator("#hold-box")).to_be_hidden()

    # B's card: sold out for good; nothing to press.
    expect(b.locator("#product-units")).to_have_text(EN["shop.sold_out"])
    expect(b.locator("#buy-button")).to_be_hidden()
    expect(b.locator("#waitlist-button")).to_be_hidden()

    # The studio: the order in the feed, sold and revenue counted, the CSV downloadable.
    order_row = studio.locator("#orders-list .order-row", has_text=order_id)
    expect(order_row).to_have_count(1)
    expect(order_row).to_contain_text("€199.00")
    expect(order_row).to_contain_text(buyer.display_name)
    expect(studio.locator("#count-sold")).to_have_text("1")
    expect(studio.locator("#count-held")).to_have_text("0")
    expect(studio.locator("#count-revenue")).to_have_text("€199.00")
    expect(studio.locator("#sale-list .sale-row").first).to_contain_text(
        EN["studio.sale.ended.sold_out"]
    )
    studio.screenshot(
        path=str(screenshots / "studio-1280-selling.png"), full_page=True, animations="disabled"
    )
    with studio.expect_download() as info:
        studio.locator("#orders-csv").click()
    csv_text = Path(info.value.path()).read_text(encoding="utf-8")
    assert order_id in csv_text

    # A reload of the studio fills the feed from the API.
    studio.reload()
    joined(studio)
    expect(studio.locator("#orders-list .order-row", has_text=order_id)).to_have_count(1)
    orders = server.api("GET", f"/api/v1/rooms/{room['id']}/orders", token=host.token)
    assert [o["id"] for o in orders["orders"]] == [order_id]


def test_a_guest_who_presses_buy_gets_the_sign_in_sheet(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    product = create_product(server, host, stock=6)  # two sales of 3: a sale takes its units
    room = server.create_room(host, "Guest buy test")
    server.start_room(host, str(room["id"]))
    studio = open_studio(new_page, host, room["id"])
    pin_and_sell(studio, product, units=3)

    guest = open_viewer(new_page, room["id"])
    expect(guest.locator("#product-units")).to_have_text("3 left")

    # The card fits a 390px phone in every language, Buy included.
    for lang in ("nb", "sv", "nl", "lv", "en"):
        guest.locator("#lang-switch").select_option(lang)
        expect(guest.locator("html")).to_have_attribute("lang", lang)
        expect(guest.locator("#buy-button")).to_have_text(locale_strings(lang)["shop.buy"])
        for selector in ("#product-card", "#buy-button", "#product-countdown", "#product-price"):
            box = guest.locator(selector).bounding_box()
            assert box is not None, selector
            assert box["x"] >= 0, f"{selector} starts off screen in {lang}"
            assert box["x"] + box["width"] <= PHONE["width"], f"{selector} sticks out in {lang}"
        if lang == "lv":
            guest.screenshot(
                path=str(screenshots / "viewer-390-product-card-lv.png"), animations="disabled"
            )
    guest.locator("#buy-button").click()
    expect(guest.locator("#auth-sheet")).to_be_visible()
    expect(guest.locator("#checkout-sheet")).to_be_hidden()
    guest.keyboard.press("Escape")
    expect(guest.locator("#product-notice")).to_have_text(EN["shop.sign_in_to_buy"])

    # The host stops the sale: the card says so and Buy goes away.
    stop = EN["studio.sale.stop_named"].format(title=product["title"])
    studio.get_by_role("button", name=stop).click()
    expect(studio.locator("#sale-list .sale-row").first).to_contain_text(
        EN["studio.sale.ended.stopped"]
    )
    expect(guest.locator("#product-units")).to_have_text(EN["shop.sale_ended"])
    expect(guest.locator("#buy-button")).to_be_hidden()
    expect(guest.locator("#product-countdown")).to_be_hidden()

    # On a desktop the card sits in the chat column, beside the video.
    studio.locator("#sale-start").click()
    expect(studio.locator("#sale-list .sale-row.active")).to_have_count(1)
    wide = new_page(viewport=DESKTOP)
    serve_pictures(wide)
    wide.goto(f"/rooms/{room['id']}")
    joined(wide)
    expect(wide.locator("#buy-button")).to_be_visible()
    video = wide.locator("#video").bounding_box()
    card = wide.locator("#product-card").bounding_box()
    assert video is not None
    assert card is not None
    assert card["x"] >= video["x"] + video["width"] - 1
    wide.screenshot(path=str(screenshots / "viewer-1280-product-card.png"), animations="disabled")


def test_the_studio_imports_a_csv_catalog_and_shows_a_report(
    server: Server, new_page: NewPage
) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Import test")
    studio = open_studio(new_page, host, room["id"])
    expect(studio.locator("#products-empty")).to_be_visible()

    suffix = uuid.uuid4().hex[:6]
    csv_text = (
        "sku,title,price,currency,stock\n"
        f"MUG-{suffix},Stoneware mug,1900,EUR,12\n"
        f"CAP-{suffix},Wool cap,2900,EUR,4\n"
        f"BAD-{suffix},,-5,EUR,1\n"
    )
    studio.locator("#import-products summary").click()
    studio.get_by_label(EN["studio.import.file"]).set_input_files(
        {"name": "catalog.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}
    )
    studio.locator("#import-submit").click()
    expect(studio.locator("#import-summary")).to_have_text("2 created, 0 updated, 1 refused.")
    rows = studio.locator("#import-rows tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(2)).to_contain_text(f"BAD-{suffix}")
    expect(rows.nth(2)).to_contain_text(EN["studio.import.status.refused"])
    expect(studio.locator("#product-list .product-row")).to_have_count(2)
    expect(studio.locator("#product-list")).to_contain_text("Stoneware mug")

    # A product added by hand joins the list.
    studio.locator("#add-product summary").click()
    studio.get_by_label(EN["studio.products.title"]).fill("Linen apron")
    studio.locator("#product-sku").fill(f"APRON-{suffix}")
    studio.get_by_label(EN["studio.products.price"], exact=True).fill("34.50")
    studio.locator("#product-submit").click()
    expect(studio.locator("#product-list .product-row")).to_have_count(3)
    expect(studio.locator("#product-list .product-row").first).to_contain_text("€34.50")


def test_a_hold_given_back_goes_to_the_waitlist(server: Server, new_page: NewPage) -> None:
    host = server.create_user("host")
    product = create_product(server, host, stock=1)
    room = server.create_room(host, "Waitlist test")
    server.start_room(host, str(room["id"]))
    studio = open_studio(new_page, host, room["id"])
    pin = EN["studio.products.pin_named"].format(title=product["title"])
    studio.get_by_role("button", name=pin).click()
    studio.locator("#sale-start").click()
    expect(studio.locator("#sale-list .sale-row.active")).to_have_count(1)

    first = open_viewer(new_page, room["id"], server.create_user("first"))
    second = open_viewer(new_page, room["id"], server.create_user("second"))
    first.locator("#buy-button").click()
    expect(first.locator("#checkout-sheet")).to_be_visible()

    # Sold out while the first buyer holds it: the second joins the waitlist.
    expect(second.locator("#product-units")).to_have_text(EN["shop.sold_out"])
    second.locator("#waitlist-button").click()
    joined_text = EN["shop.waitlist.joined"].format(position=1)
    expect(second.locator("#product-notice")).to_have_text(joined_text)
    expect(second.locator("#waitlist-button")).to_be_hidden()

    # The first buyer gives it back; the second is offered a hold of their own.
    first.locator("#checkout-release").click()
    expect(first.locator("#checkout-sheet")).to_be_hidden()
    expect(first.locator("#product-notice")).to_have_text(EN["shop.hold.released"])
    expect(first.locator("#hold-box")).to_be_hidden()

    expect(second.locator("#hold-box")).to_be_visible()
    expect(second.locator("#hold-timer")).to_have_text(re.compile(r"^[12]:\d\d$"))
    expect(second.locator("#product-notice")).to_contain_text(fill_in(EN["shop.waitlist.offer"]))
    second.locator("#checkout-open").click()
    expect(second.locator("#checkout-sheet")).to_be_visible()
    expect(second.locator("#checkout-pay")).to_be_enabled()


def boxes(page: Page, *selectors: str) -> list[FloatRect]:
    found = []
    for selector in selectors:
        box = page.locator(selector).bounding_box()
        assert box is not None, f"{selector} is not on screen"
        found.append(box)
    return found


def test_a_buyer_who_reloads_keeps_the_hold_and_then_sees_bought(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    product = create_product(server, host, stock=3)
    # A Swedish show: its buyers ship to Sweden, whatever a browser's defaults say (en-US).
    room = server.api(
        "POST", "/api/v1/rooms", {"title": "Stickat", "currency": "EUR", "locale": "sv"},
        token=host.token,
    )  # fmt: skip
    server.start_room(host, str(room["id"]))
    studio = open_studio(new_page, host, room["id"])
    studio.get_by_role(
        "button", name=EN["studio.products.pin_named"].format(title=product["title"])
    ).click()
    studio.locator("#sale-units").fill("3")
    studio.locator("#sale-hold").fill("120")
    studio.locator("#sale-start").click()
    expect(studio.locator("#sale-list .sale-row.active")).to_have_count(1)

    # Ingrid presses Buy on her phone: checkout rises as a sheet over the lower half only, so
    # the show, its LIVE badge and the top of the picture stay in view above it.
    buyer = server.create_user("ingrid")
    page = open_viewer(new_page, room["id"], buyer)
    page.locator("#buy-button").click()
    sheet = page.locator("#checkout-sheet")
    expect(sheet).to_be_visible()
    sheet.evaluate("el => Promise.all(el.getAnimations().map((a) => a.finished))")
    sheet_box, badge, video = boxes(page, "#checkout-sheet", "#live-badge", "#video")
    assert sheet_box["y"] >= PHONE["height"] * 0.4, sheet_box
    assert sheet_box["y"] + sheet_box["height"] <= PHONE["height"] + 1
    assert badge["y"] + badge["height"] <= sheet_box["y"]
    assert video["y"] < sheet_box["y"] - PHONE["height"] * 0.35
    country = page.get_by_label(EN["shop.checkout.country"])
    expect(country).to_have_value("SE")
    expect(country.locator("option:checked")).to_have_text("Sweden")
    # The form scrolls inside the sheet under its head: the hold timer stays in view.
    page.get_by_label(EN["shop.checkout.card_number"]).scroll_into_view_if_needed()
    expect(page.locator("#checkout-hold-timer")).to_be_in_viewport()
    page.screenshot(
        path=str(screenshots / "viewer-390-checkout-half-sheet.png"), animations="disabled"
    )

    # She closes it and reloads the page: the hold is still hers, with its timer and Check
    # out, not a Buy that the server would refuse as over the limit.
    page.locator("#checkout-close").click()
    expect(sheet).to_be_hidden()
    page.reload()
    joined(page)
    expect(page.locator("#hold-box")).to_be_visible()
    expect(page.locator("#hold-box")).to_contain_text(EN["shop.hold.label"])
    expect(page.locator("#hold-timer")).to_have_text(re.compile(r"^[01]:\d\d$"))
    expect(page.locator("#checkout-open")).to_be_visible()
    expect(page.locator("#buy-button")).to_be_hidden()
    page.screenshot(
        path=str(screenshots / "viewer-390-hold-after-reload.png"), animations="disabled"
    )

    # Her laptop shows the same hold, and its checkout ships to Sweden too.
    laptop = new_page(viewport=DESKTOP)
    serve_pictures(laptop)
    signed_in(laptop, buyer)
    laptop.goto(f"/rooms/{room['id']}")
    joined(laptop)
    expect(laptop.locator("#hold-box")).to_be_visible()
    expect(laptop.locator("#hold-timer")).to_have_text(re.compile(r"^[01]:\d\d$"))
    expect(laptop.locator("#buy-button")).to_be_hidden()
    laptop.screenshot(
        path=str(screenshots / "viewer-1280-hold-after-reload.png"), animations="disabled"
    )
    laptop.locator("#checkout-open").click()
    expect(laptop.locator("#checkout-sheet")).to_be_visible()
    expect(laptop.get_by_label(EN["shop.checkout.country"])).to_have_value("SE")
    laptop.screenshot(path=str(screenshots / "viewer-1280-checkout.png"), animations="disabled")
    laptop.locator("#checkout-close").click()

    # She checks out and pays on her phone: the card says Bought where Buy was (one per buyer).
    page.locator("#checkout-open").click()
    expect(sheet).to_be_visible()
    fill_address(page)
    fill_card(page, PAYS)
    page.locator("#checkout-pay").click()
    expect(page.locator("#checkout-done")).to_be_visible()
    expect(page.locator("#checkout-done-close")).to_be_in_viewport(ratio=1)
    page.screenshot(
        path=str(screenshots / "viewer-390-order-confirmed-half-sheet.png"), animations="disabled"
    )
    page.locator("#checkout-done-close").click()
    expect(sheet).to_be_hidden()
    expect(page.locator("#bought-badge")).to_be_visible()
    expect(page.locator("#bought-badge")).to_have_text(EN["shop.bought_badge"])
    expect(page.locator("#buy-button")).to_be_hidden()
    expect(page.locator("#product-units")).to_have_text("2 left")  # others may still buy

    # Still so after a reload, and on her laptop.
    page.reload()
    joined(page)
    expect(page.locator("#bought-badge")).to_be_visible()
    expect(page.locator("#buy-button")).to_be_hidden()
    expect(page.locator("#hold-box")).to_be_hidden()
    page.screenshot(path=str(screenshots / "viewer-390-bought.png"), animations="disabled")
    # "Bought" fits the card in every language.
    for lang in ("nb", "sv", "nl", "lv"):
        page.locator("#lang-switch").select_option(lang)
        badge_text = locale_strings(lang)["shop.bought_badge"]
        expect(page.locator("#bought-badge")).to_have_text(badge_text)
        card_box, badge_box = boxes(page, "#product-card", "#bought-badge")
        assert badge_box["x"] >= card_box["x"], lang
        assert badge_box["x"] + badge_box["width"] <= card_box["x"] + card_box["width"], lang
    page.screenshot(path=str(screenshots / "viewer-390-bought-lv.png"), animations="disabled")
    page.locator("#lang-switch").select_option("en")
    laptop.reload()
    joined(laptop)
    expect(laptop.locator("#bought-badge")).to_be_visible()
    expect(laptop.locator("#buy-button")).to_be_hidden()
    laptop.screenshot(path=str(screenshots / "viewer-1280-bought.png"), animations="disabled")

    # Someone else still has Buy.
    other = open_viewer(new_page, room["id"], server.create_user("olle"))
    expect(other.locator("#buy-button")).to_be_visible()
    expect(other.locator("#bought-badge")).to_be_hidden()


def test_a_viewer_who_comes_after_the_sale_is_told_it_ended(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    product = create_product(server, host, stock=4)
    room = server.create_room(host, "Late viewer test")
    server.start_room(host, str(room["id"]))
    studio = open_studio(new_page, host, room["id"])
    pin_and_sell(studio, product, units=2)
    studio.get_by_role(
        "button", name=EN["studio.sale.stop_named"].format(title=product["title"])
    ).click()
    expect(studio.locator("#sale-list .sale-row").first).to_contain_text(
        EN["studio.sale.ended.stopped"]
    )

    # The product is still pinned; someone opening the show now sees the sale is over,
    # not a price with nothing to press.
    for viewport, name in ((PHONE, "390"), (DESKTOP, "1280")):
        late = new_page(viewport=viewport)
        serve_pictures(late)
        late.goto(f"/rooms/{room['id']}")
        joined(late)
        card = late.locator("#product-card")
        expect(card).to_be_visible()
        expect(card.locator("#product-title")).to_have_text(str(product["title"]))
        expect(card.locator("#product-units")).to_have_text(EN["shop.sale_ended"])
        expect(card.locator("#buy-button")).to_be_hidden()
        expect(card.locator("#waitlist-button")).to_be_hidden()
        late.screenshot(
            path=str(screenshots / f"viewer-{name}-sale-ended.png"), animations="disabled"
        )

    # A sale whose units all sold says so, also to those who come later.
    studio.locator("#sale-units").fill("1")
    studio.locator("#sale-start").click()
    expect(studio.locator("#sale-list .sale-row.active")).to_have_count(1)
    buyer = open_viewer(new_page, room["id"], server.create_user("buyer"))
    buyer.locator("#buy-button").click()
    fill_address(buyer)
    fill_card(buyer, PAYS)
    buyer.locator("#checkout-pay").click()
    expect(buyer.locator("#checkout-done")).to_be_visible()
    later = open_viewer(new_page, room["id"])
    expect(later.locator("#product-units")).to_have_text(EN["shop.sold_out"])
    expect(later.locator("#buy-button")).to_be_hidden()
    expect(later.locator("#waitlist-button")).to_be_hidden()
    later.screenshot(path=str(screenshots / "viewer-390-sold-out-late.png"), animations="disabled")


def test_a_giveaway_is_claimed_with_an_address_and_no_card(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    product = create_product(server, host, title="Signed poster", price=1500, stock=3)
    room = server.create_room(host, "Giveaway night")
    server.start_room(host, str(room["id"]))
    on_socket(
        server, host, room["id"],
        [{"type": "pin", "product_id": product["id"]},
         {"type": "sale.start", "product_id": product["id"], "price": 0, "units": 3,
          "per_user_limit": 1, "duration_s": 300, "hold_s": 120}],
    )  # fmt: skip

    fan = open_viewer(new_page, room["id"], server.create_user("fan"))
    fan.locator("#buy-button").click()
    sheet = fan.locator("#checkout-sheet")
    expect(sheet).to_be_visible()
    # Nothing to pay: the sheet asks where to send it, not for a card.
    expect(fan.get_by_label(EN["shop.checkout.card_number"])).to_be_hidden()
    claim = fan.locator("#checkout-pay")
    expect(claim).to_have_text(EN["shop.checkout.claim_free"])
    fill_address(fan)
    fan.screenshot(path=str(screenshots / "viewer-390-giveaway.png"), animations="disabled")
    claim.click()
    expect(fan.locator("#checkout-done")).to_be_visible()
    expect(fan.locator("#order-amount")).to_have_text("€0.00")
    expect(fan.locator("#bought-badge")).to_be_visible()


def test_ending_the_show_ends_its_sale_and_a_hold_made_before_still_pays(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    product = create_product(server, host, stock=6)
    room = server.create_room(host, "Last call")
    server.start_room(host, str(room["id"]))
    studio = open_studio(new_page, host, room["id"])
    sale_id = pin_and_sell(studio, product, units=4)

    # Kari holds one on her phone; Ola and Nina are watching, Buy in front of them.
    kari = open_viewer(new_page, room["id"], server.create_user("kari"))
    kari.locator("#buy-button").click()
    expect(kari.locator("#checkout-sheet")).to_be_visible()
    kari.locator("#checkout-close").click()
    expect(kari.locator("#hold-box")).to_be_visible()
    ola_user = server.create_user("ola")
    ola = open_viewer(new_page, room["id"], ola_user)
    nina = new_page(viewport=DESKTOP)
    serve_pictures(nina)
    signed_in(nina, server.create_user("nina"))
    nina.goto(f"/rooms/{room['id']}")
    joined(nina)
    for page in (ola, nina):
        expect(page.locator("#buy-button")).to_be_visible()

    studio.locator("#end-show").click()
    studio.locator("#confirm-end-button").click()

    # The show's end ends the sale with it: nothing left to buy for those watching.
    for page, name in ((ola, "390"), (nina, "1280")):
        expect(page.locator("#buy-button")).to_be_hidden()
        expect(page.locator("#product-units")).to_have_text(EN["shop.sale_ended"])
        page.screenshot(
            path=str(screenshots / f"viewer-{name}-show-ended-sale.png"), animations="disabled"
        )
    expect(studio.locator("#sale-list .sale-row.active")).to_have_count(0)
    sale = server.api("GET", f"/api/v1/sales/{sale_id}")
    assert (sale["state"], sale["end_reason"], sale["held"]) == ("ended", "stopped", 1)
    with pytest.raises(ApiFailure) as late:
        server.api("POST", f"/api/v1/sales/{sale_id}/reservations", {"quantity": 1}, ola_user.token)
    assert (late.value.status, late.value.body["code"]) == (409, "sale_not_active")

    # Kari's hold was made before the end: she can still pay for it.
    expect(kari.locator("#hold-box")).to_be_visible()
    kari.locator("#checkout-open").click()
    fill_address(kari)
    fill_card(kari, PAYS)
    kari.locator("#checkout-pay").click()
    expect(kari.locator("#checkout-done")).to_be_visible()
    kari.screenshot(
        path=str(screenshots / "viewer-390-paid-after-the-end.png"), animations="disabled"
    )


def test_a_hold_paid_on_the_laptop_turns_to_bought_on_the_phone(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    product = create_product(server, host, stock=5)
    room = server.create_room(host, "Two screens")
    server.start_room(host, str(room["id"]))
    on_socket(
        server, host, room["id"],
        [{"type": "pin", "product_id": product["id"]},
         {"type": "sale.start", "product_id": product["id"], "price": 19900, "units": 5,
          "per_user_limit": 1, "duration_s": 300, "hold_s": 120}],
    )  # fmt: skip
    kari = server.create_user("kari")

    # Kari holds one on her phone, then picks up her laptop to type the address there.
    phone = open_viewer(new_page, room["id"], kari)
    phone.locator("#buy-button").click()
    expect(phone.locator("#checkout-sheet")).to_be_visible()
    phone.locator("#checkout-close").click()
    expect(phone.locator("#hold-box")).to_be_visible()
    laptop = new_page(viewport=DESKTOP)
    serve_pictures(laptop)
    signed_in(laptop, kari)
    laptop.goto(f"/rooms/{room['id']}")
    joined(laptop)
    laptop.locator("#checkout-open").click()
    fill_address(laptop)
    fill_card(laptop, PAYS)
    laptop.locator("#checkout-pay").click()
    expect(laptop.locator("#checkout-done")).to_be_visible()

    # The phone stops counting down a hold that is paid: it says Bought, as the laptop does.
    expect(phone.locator("#hold-box")).to_be_hidden()
    expect(phone.locator("#bought-badge")).to_be_visible()
    expect(phone.locator("#buy-button")).to_be_hidden()
    phone.screenshot(path=str(screenshots / "viewer-390-paid-elsewhere.png"), animations="disabled")
