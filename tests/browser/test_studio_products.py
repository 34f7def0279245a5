"""The studio's product pictures in a real headless Chromium: a picture that fails keeps its
place, and a creator uploads pictures instead of pasting links.

The pictures are real PNG and JPEG files (encoded by FFmpeg through PyAV); the browser has
no network, so a link to another host fails the way a dead link does.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Route, ViewportSize, expect

from tests.images import encode_image

from .support import DESKTOP, PHONE, NewPage, Server, User, locale_strings, signed_in

pytestmark = pytest.mark.browser

EN = locale_strings("en")
DEAD_LINK = "https://images.example.test/gone.jpg"
# Chromium logs a refused upload (415) and the dead picture as console errors.
EXPECTED_ERRORS = (r"status of 415", r"status of 404", r"images\.example\.test")


def create_product(server: Server, host: User, title: str, **fields: Any) -> dict[str, Any]:
    body = {"sku": f"SKU-{uuid.uuid4().hex[:8]}", "title": title, "price": 2900,
            "currency": "EUR", "stock": 7, **fields}  # fmt: skip
    product: dict[str, Any] = server.api("POST", "/api/v1/products", body, token=host.token)
    return product


def open_studio(new_page: NewPage, host: User, room_id: object) -> Page:
    studio = new_page(viewport=DESKTOP, expected_console_errors=EXPECTED_ERRORS)

    def dead(route: Route) -> None:
        route.fulfill(status=404, body=b"")

    studio.route("https://images.example.test/**", dead)
    signed_in(studio, host)
    studio.goto(f"/studio#{room_id}")
    expect(studio.locator("body")).to_have_attribute("data-connection", "joined")
    return studio


def row(studio: Page, title: str) -> Locator:
    return studio.locator("#product-list .product-row", has_text=title)


def loaded_picture(product_row: Locator) -> Locator:
    picture = product_row.locator("img.product-thumb")
    expect(picture).to_have_attribute("src", re.compile(r"^/images/img_"))
    product_row.page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=picture.element_handle()
    )
    return picture


def test_a_broken_picture_keeps_its_place_and_the_creator_uploads_new_ones(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Pictures")
    server.start_room(host, str(room["id"]))
    broken_title = "Hand-thrown stoneware serving bowl, speckled glaze"
    create_product(server, host, broken_title, image_url=DEAD_LINK)
    studio = open_studio(new_page, host, room["id"])

    # The dead link gives way to a placeholder of the same size: the title keeps its column
    # and reads on one or two lines, not one letter a line.
    broken = row(studio, broken_title)
    placeholder = broken.locator(".product-thumb.placeholder")
    expect(placeholder).to_be_visible()
    expect(placeholder).to_have_text("H")
    thumb_box = placeholder.bounding_box()
    title_box = broken.locator(".product-name").bounding_box()
    assert thumb_box is not None
    assert title_box is not None
    assert (thumb_box["width"], thumb_box["height"]) == (40, 40)
    assert title_box["x"] >= thumb_box["x"] + 40
    assert title_box["width"] > 120
    assert title_box["height"] < 90
    products = studio.locator("section[aria-labelledby='products-heading']")
    products.screenshot(path=str(screenshots / "studio-products-broken-1280.png"))
    studio.set_viewport_size(ViewportSize(width=PHONE["width"], height=PHONE["height"]))
    expect(placeholder).to_have_css("width", "40px")
    products.screenshot(path=str(screenshots / "studio-products-broken-390.png"))
    studio.set_viewport_size(ViewportSize(width=DESKTOP["width"], height=DESKTOP["height"]))

    # A product added by hand with a picture from the computer.
    studio.locator("#add-product summary").click()
    studio.get_by_label(EN["studio.products.title"]).fill("Linen apron")
    studio.locator("#product-sku").fill(f"APRON-{uuid.uuid4().hex[:6]}")
    studio.get_by_label(EN["studio.products.price"], exact=True).fill("34.50")
    studio.get_by_label(EN["studio.products.image.upload"]).set_input_files(
        {"name": "apron.png", "mimeType": "image/png",
         "buffer": encode_image("png", 160, 160, (42, 157, 143))}
    )  # fmt: skip
    studio.locator("#product-submit").click()
    apron = row(studio, "Linen apron")
    loaded_picture(apron)
    expect(studio.get_by_label(EN["studio.products.image.upload"])).to_have_value("")

    # The broken one gets a picture of its own: its thumbnail is the file picker.
    studio.get_by_label(f"Change the image of {broken_title}").set_input_files(
        {"name": "bowl.jpg", "mimeType": "image/jpeg",
         "buffer": encode_image("jpg", 160, 160, (230, 180, 120))}
    )  # fmt: skip
    expect(studio.locator("#products-status")).to_have_text(f"New image for “{broken_title}”.")
    loaded_picture(broken)
    expect(broken.locator(".product-thumb.placeholder")).to_have_count(0)

    # A page dressed up as a picture is refused, and the picture stays as it was.
    studio.get_by_label("Change the image of Linen apron").set_input_files(
        {"name": "apron.png", "mimeType": "image/png",
         "buffer": b"<html><script>alert(1)</script></html>"}
    )  # fmt: skip
    expect(studio.locator("#products-status")).to_have_text(EN["studio.products.image.unsupported"])
    loaded_picture(apron)

    products.screenshot(path=str(screenshots / "studio-products-1280.png"))
    studio.set_viewport_size(ViewportSize(width=PHONE["width"], height=PHONE["height"]))
    products.screenshot(path=str(screenshots / "studio-products-390.png"))
    overflow = studio.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the studio is {overflow}px wider than a 390px phone"

    # Pinned, the uploaded picture is what viewers see on the card.
    apron.get_by_role("button", name="Pin Linen apron").click()
    viewer = new_page(viewport=PHONE)
    viewer.goto(f"/rooms/{room['id']}")
    card_image = viewer.locator("#product-image")
    expect(card_image).to_have_attribute("src", re.compile(r"/images/img_"))
    viewer.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=card_image.element_handle()
    )
    viewer.screenshot(path=str(screenshots / "viewer-390-uploaded-picture.png"))
    studio.set_viewport_size(ViewportSize(width=DESKTOP["width"], height=DESKTOP["height"]))
