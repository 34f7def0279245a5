"""A viewer opens the pinned product's details in a real headless Chromium, and the show's
results count the click, and the guest who came back as one viewer."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .support import PHONE, NewPage, Server, User, locale_strings, scaled

pytestmark = pytest.mark.browser

EN = locale_strings("en")


def results(server: Server, host: User, room_id: str) -> dict[str, Any]:
    found: dict[str, Any] = server.api("GET", f"/api/v1/rooms/{room_id}/results", token=host.token)
    summary: dict[str, Any] = found["summary"]
    return summary


def until_counted(server: Server, host: User, room_id: str, **wanted: int) -> dict[str, Any]:
    """The results once each process's once-a-second flush has brought them to ``wanted``."""
    deadline = time.monotonic() + scaled(10)
    while True:
        summary = results(server, host, room_id)
        if all(summary[k] == v for k, v in wanted.items()) or time.monotonic() > deadline:
            return summary
        time.sleep(0.1)  # polling the server's own counts, under the deadline above


def joined(page: Page) -> None:
    expect(page.locator("body")).to_have_attribute("data-connection", "joined")


def test_a_guest_opens_the_details_and_the_creator_sees_the_click_and_one_viewer(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Sneaker drop")
    server.start_room(host, room["id"])
    product = server.api(
        "POST",
        "/api/v1/products",
        {"sku": f"SNK-{room['id'][-6:]}", "title": "Court sneaker", "price": 24900,
         "currency": "EUR", "stock": 5, "description": "Low top, leather lining."},
        token=host.token,
    )  # fmt: skip
    server.api("PUT", f"/api/v1/rooms/{room['id']}/pin", {"product_id": product["id"]}, host.token)

    page = new_page(viewport=PHONE)
    page.goto(f"/rooms/{room['id']}")
    joined(page)
    expect(page.locator("#product-title")).to_have_text("Court sneaker")
    page.locator("#product-card").screenshot(path=screenshots / "product-card-details-phone.png")
    page.get_by_role("button", name=EN["shop.details"]).click()
    sheet = page.get_by_role("dialog", name="Court sneaker")
    expect(sheet).to_be_visible()
    expect(sheet.get_by_text("Low top, leather lining.")).to_be_visible()
    page.screenshot(path=screenshots / "product-details-phone.png")
    sheet.get_by_role("button", name=EN["common.close"]).click()
    expect(sheet).to_be_hidden()

    page.reload()  # the same guest comes back: the same visitor id
    joined(page)
    summary = until_counted(server, host, room["id"], clicks=1, views=2, unique_viewers=1)
    assert (summary["clicks"], summary["views"], summary["unique_viewers"]) == (1, 2, 1)
    assert summary["impressions"] == 2  # joined while it was pinned, twice
