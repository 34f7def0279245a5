"""Auctions in the moderator console, in a real headless Chromium against a real server.

The host runs a lot and two people bid on it over the HTTP API (their own pages are not what
these stories are about); the moderator watches the lot in the console, reviews the bid log
with everyone's max, and voids a shill's bids.
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from .support import DESKTOP, PHONE, NewPage, Server, User, locale_strings, scaled

pytestmark = pytest.mark.browser

EN = locale_strings("en")
# Chromium logs every 4xx answer to fetch as a console error; a void refused is a 409.
REFUSED_FETCH = (r"status of 409",)


def fill(key: str, **args: object) -> str:
    """An English string with its placeholders filled, as the page shows it."""
    return re.sub(r"\{(\w+)\}", lambda m: str(args[m.group(1)]), EN[key])


def live_room_with_a_moderator(server: Server, title: str) -> tuple[User, str, User]:
    host = server.create_user("host")
    room = server.create_room(host, title)
    room_id = str(room["id"])
    server.start_room(host, room_id)
    mod = server.create_user("mod")
    server.api("PUT", f"/api/v1/rooms/{room_id}/moderators/{mod.id}", token=host.token)
    return host, room_id, mod


def run_lot(server: Server, host: User, room_id: str, title: str) -> dict[str, Any]:
    """The host puts one unit of a product up at EUR 10.00 for five minutes, started now."""
    product = server.api(
        "POST",
        "/api/v1/products",
        {"sku": f"SKU-{uuid.uuid4().hex[:8]}", "title": title, "price": 9900,
         "currency": "EUR", "stock": 1},
        token=host.token,
    )  # fmt: skip
    lot: dict[str, Any] = server.api(
        "POST",
        f"/api/v1/rooms/{room_id}/auctions",
        {"product_id": product["id"], "starting_bid": 1000, "duration_s": 300, "start": True},
        token=host.token,
    )
    assert lot["state"] == "active"
    return lot


def bid(server: Server, bidder: User, auction_id: str, max_amount: int) -> dict[str, Any]:
    """A bid over HTTP, as a bidder's phone sends it (with an Idempotency-Key)."""
    request = urllib.request.Request(
        server.url(f"/api/v1/auctions/{auction_id}/bids"),
        data=json.dumps({"amount": max_amount}).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {bidder.token}",
            "Idempotency-Key": uuid.uuid4().hex,
        },
    )
    with urllib.request.urlopen(request, timeout=scaled(10)) as response:
        assert response.status == 201
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def open_console(new_page: NewPage, room_id: str, moderator: User, **opts: Any) -> Page:
    opts.setdefault("viewport", DESKTOP)
    page = new_page(**opts)
    page.goto(f"/rooms/{room_id}/console#token={moderator.token}")
    expect(page.locator("#workspace")).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-connection", "joined")
    return page


def test_a_moderator_voids_a_shills_bids_and_the_price_falls_back(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host, room_id, mod = live_room_with_a_moderator(server, "Vintage watches, live auction")
    shill = server.create_user("shill")
    viewer = server.create_user("viewer")
    console = open_console(new_page, room_id, mod)
    expect(console.locator("#lot-none")).to_be_visible()

    # The host starts a lot: the console shows it running, at its starting bid, on the clock.
    lot = run_lot(server, host, room_id, "Seiko 5, 1971")
    panel = console.locator("#lot-section")
    expect(panel.locator("#lot-title")).to_have_text("Seiko 5, 1971")
    expect(panel.locator("#lot-price")).to_have_text("€10.00")
    expect(panel.locator("#lot-leader")).to_have_text(EN["console.lot.no_leader"])
    expect(panel.locator("#lot-time")).to_have_text(re.compile(r"^[45]:\d\d$"))
    expect(panel.locator("#lot-log-empty")).to_be_visible()

    # A viewer bids up to EUR 30, then the seller's shill up to EUR 50: the shill leads at
    # the viewer's max plus one increment.
    bid(server, viewer, lot["id"], 3000)
    bid(server, shill, lot["id"], 5000)
    expect(panel.locator("#lot-price")).to_have_text("€32.00")
    expect(panel.locator("#lot-leader")).to_have_text(shill.display_name)
    expect(panel.locator("#lot-bids")).to_have_text("2 bids")

    # The log is the staff's: newest first, who placed each bid, their secret max, the price.
    rows = panel.locator("#lot-log .bid-row")
    expect(rows).to_have_count(2)
    for row, who, max_price, price in [
        (rows.nth(0), shill, "€50.00", "€32.00"),
        (rows.nth(1), viewer, "€30.00", "€10.00"),
    ]:
        expect(row.locator(".bid-who")).to_have_text(who.display_name)
        expect(row.locator(".bid-max")).to_have_text(fill("console.lot.max", price=max_price))
        expect(row.locator(".bid-amount")).to_have_text(fill("console.lot.made", price=price))
    console.locator("#main").evaluate("el => window.scrollTo(0, 0)")
    console.screenshot(path=str(screenshots / "console-auction-log-1280.png"))

    # The shill's name opens the person panel, which knows their bid on the running lot.
    rows.nth(0).locator(".bid-who").click()
    person = console.locator("#person-sheet")
    expect(person.locator("#person-name")).to_have_text(shill.display_name)
    expect(person.locator("#person-lot-text")).to_have_text(
        fill("console.lot.person_bid_count.one", count=1, title="Seiko 5, 1971")
    )
    console.keyboard.press("Escape")
    expect(person).to_be_hidden()

    # Void from the log: a confirmation first, with a reason for the audit log.
    void_name = fill("console.lot.void_named", name=shill.display_name)
    rows.nth(0).get_by_role("button", name=void_name).click()
    sheet = console.locator("#void-sheet")
    expect(sheet).to_be_visible()
    expect(sheet.locator("#void-heading")).to_have_text(
        fill("console.lot.void_heading", name=shill.display_name)
    )
    expect(sheet.locator("#void-reason")).to_be_focused()
    reason = "Shill account of the seller"
    sheet.locator("#void-reason").fill(reason)
    sheet.get_by_role("button", name=EN["console.lot.void_confirm"]).click()
    expect(sheet).to_be_hidden()
    expect(console.locator("#toast-text")).to_have_text(
        fill("console.lot.done_void", name=shill.display_name)
    )

    # The price falls back to what the viewer's bid made alone, and the viewer leads.
    expect(panel.locator("#lot-price")).to_have_text("€10.00")
    expect(panel.locator("#lot-leader")).to_have_text(viewer.display_name)
    expect(rows.nth(0)).to_have_class(re.compile(r"\bvoided\b"))
    expect(rows.nth(0).get_by_role("button", name=void_name)).to_have_count(0)
    # The keyboard stays on the shill's row, though its button went away.
    expect(rows.nth(0).locator(".bid-who")).to_be_focused()
    assert server.api("GET", f"/api/v1/auctions/{lot['id']}")["high_bidder"]["id"] == viewer.id

    # The audit log says who voided whose bids on which lot, and why.
    entry = console.locator("#audit-list .audit-entry[data-action='auction.void']")
    expect(entry.locator(".audit-what")).to_have_text(
        fill("console.lot.audit_void_lot", actor=mod.display_name, target=shill.display_name,
             lot="Seiko 5, 1971")
    )  # fmt: skip
    expect(entry.locator(".audit-reason")).to_have_text(fill("console.audit.reason", reason=reason))
    console.locator("#audit-section").scroll_into_view_if_needed()
    console.screenshot(path=str(screenshots / "console-auction-audit-1280.png"))

    console.locator("#main").evaluate("el => window.scrollTo(0, 0)")
    console.screenshot(path=str(screenshots / "console-auction-1280.png"))
    console.set_viewport_size(ViewportSize(width=PHONE["width"], height=PHONE["height"]))
    overflow = console.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the console is {overflow}px wider than a 390px phone"

    # The host opens the console on a phone mid-lot: the welcome brings the lot as it stands,
    # and the log shows the void.
    late = open_console(new_page, room_id, host, viewport=PHONE)
    late_panel = late.locator("#lot-section")
    expect(late_panel.locator("#lot-price")).to_have_text("€10.00")
    expect(late_panel.locator("#lot-leader")).to_have_text(viewer.display_name)
    expect(late_panel.locator("#lot-time")).to_have_text(re.compile(r"^[45]:\d\d$"))
    late_rows = late_panel.locator("#lot-log .bid-row")
    expect(late_rows).to_have_count(2)
    expect(late_rows.nth(0).locator(".mod-badge.voided")).to_have_text(EN["console.lot.voided"])
    late_panel.scroll_into_view_if_needed()
    late.screenshot(path=str(screenshots / "console-auction-390.png"))


def test_a_void_that_another_moderator_made_first_is_refused_in_the_sheet(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host, room_id, mod = live_room_with_a_moderator(server, "Sneaker auction")
    shill = server.create_user("shill")
    viewer = server.create_user("viewer")
    console = open_console(new_page, room_id, mod, viewport=PHONE,
                           expected_console_errors=REFUSED_FETCH)  # fmt: skip
    lot = run_lot(server, host, room_id, "Air Max 1, size 43")
    bid(server, viewer, lot["id"], 2000)
    bid(server, shill, lot["id"], 4000)
    panel = console.locator("#lot-section")
    expect(panel.locator("#lot-leader")).to_have_text(shill.display_name)

    # From the person panel this time: the shill's panel offers "Void bids".
    newest = panel.locator("#lot-log .bid-row").nth(0).locator(".bid-who")
    expect(newest).to_have_text(shill.display_name)
    newest.click()
    person = console.locator("#person-sheet")
    expect(person.locator("#person-name")).to_have_text(shill.display_name)
    person.get_by_role("button", name=EN["console.lot.void"]).click()
    sheet = console.locator("#void-sheet")
    expect(sheet.locator("#void-heading")).to_have_text(
        fill("console.lot.void_heading", name=shill.display_name)
    )

    # Meanwhile the host voids the shill themselves; the moderator's confirmation comes second.
    server.api("POST", f"/api/v1/auctions/{lot['id']}/void", {"user_id": shill.id},
               token=host.token)  # fmt: skip
    expect(panel.locator("#lot-leader")).to_have_text(viewer.display_name)
    # The socket is down for a moment: the void goes over HTTP (409) and is refused alike.
    console.evaluate("() => window.lcRoomClient.close()")
    sheet.get_by_role("button", name=EN["console.lot.void_confirm"]).click()
    expect(sheet.locator("#void-error")).to_have_text(EN["console.lot.error_no_bids"])
    expect(sheet).to_be_visible()
    console.screenshot(path=str(screenshots / "console-auction-refused-390.png"))
    sheet.get_by_role("button", name=EN["common.cancel"]).click()
    expect(sheet).to_be_hidden()
    # Nothing counts of the shill's any more: the panel no longer offers to void them.
    expect(person.locator("#person-lot")).to_be_hidden()
