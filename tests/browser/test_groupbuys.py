"""Group buys in a real headless Chromium: the host launches one from the studio, two
viewers join from their phones through the checkout sheet, the card is only authorised
until the second joins, then both are charged and the studio sees it filled; a desktop
viewer sees the same card beside the chat.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .support import DESKTOP, PHONE, NewPage, Server, User, locale_strings, signed_in
from .test_shopping import fill_address, fill_card, serve_pictures

pytestmark = pytest.mark.browser

EN = locale_strings("en")
PAYS = "4242424242424242"


def joined(page: Page) -> None:
    expect(page.locator("body")).to_have_attribute("data-connection", "joined")


def viewer(new_page: NewPage, room_id: object, user: User, viewport: dict[str, int]) -> Page:
    page = new_page(viewport=viewport)
    serve_pictures(page)
    signed_in(page, user)
    page.goto(f"/rooms/{room_id}")
    joined(page)
    return page


def join_group(page: Page) -> None:
    """Join from the card: the checkout sheet, an address and a card, then "Join for"."""
    page.locator("#groupbuy-join").click()
    sheet = page.locator("#checkout-sheet")
    expect(sheet).to_be_visible()
    fill_address(page)
    fill_card(page, PAYS)
    page.get_by_role("button", name=EN["groupbuy.pay"].split("{", 1)[0].strip()).click()
    expect(sheet).to_be_hidden()


def test_two_phones_fill_a_group_buy_and_both_are_charged(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    room: dict[str, Any] = server.create_room(host, "Kitchen drop")
    server.start_room(host, room["id"])
    product = server.api(
        "POST",
        "/api/v1/products",
        {
            "sku": f"TEA-{uuid.uuid4().hex[:8]}", "title": "Cast-iron teapot", "price": 4900,
            "currency": "EUR", "stock": 6, "image_url": "https://images.example.test/teapot.svg",
        },
        token=host.token,
    )  # fmt: skip

    studio = new_page(viewport=DESKTOP)
    serve_pictures(studio)
    signed_in(studio, host)
    studio.goto(f"/studio#{room['id']}")
    joined(studio)
    studio.locator("#groupbuy-product").select_option(str(product["id"]))
    studio.locator("#groupbuy-price").fill("29.00")
    studio.locator("#groupbuy-buyers").fill("2")
    studio.locator("#groupbuy-units").fill("4")
    studio.locator("#groupbuy-duration").fill("600")
    studio.locator("#groupbuy-start").click()
    row = studio.locator("#groupbuy-list .groupbuy-item")
    expect(row).to_have_attribute("data-state", "open")
    expect(row).to_contain_text("0 of 2 joined")

    kari = viewer(new_page, room["id"], server.create_user("kari"), PHONE)
    card = kari.locator("#groupbuy-card")
    expect(card).to_be_visible()
    expect(card.locator("#groupbuy-price")).to_have_text("€29.00")
    expect(card.locator("#groupbuy-was")).to_have_text("€49.00")
    expect(card.locator("#groupbuy-progress")).to_contain_text("0 of 2 joined")
    kari.screenshot(path=str(screenshots / "groupbuy-viewer-390-card.png"), animations="disabled")
    kari.locator("#groupbuy-join").click()
    expect(kari.locator("#checkout-sheet")).to_be_visible()
    expect(kari.locator("#checkout-item")).to_contain_text("only if the group fills")
    fill_address(kari)
    fill_card(kari, PAYS)
    kari.screenshot(path=str(screenshots / "groupbuy-viewer-390-sheet.png"), animations="disabled")
    kari.get_by_role("button", name="Join for").click()
    expect(kari.locator("#checkout-sheet")).to_be_hidden()
    expect(card.locator("#groupbuy-state")).to_have_text(EN["groupbuy.you.authorised"])
    expect(card.locator("#groupbuy-progress")).to_contain_text("1 of 2 joined")
    kari.screenshot(path=str(screenshots / "groupbuy-viewer-390-in.png"), animations="disabled")
    expect(row).to_contain_text("1 of 2 joined")
    # She changes her mind before it fills, and back again: leaving costs nothing.
    kari.get_by_role("button", name=EN["groupbuy.leave"]).click()
    expect(card.locator("#groupbuy-notice")).to_have_text(EN["groupbuy.left"])
    expect(card.locator("#groupbuy-progress")).to_contain_text("0 of 2 joined")
    join_group(kari)
    expect(card.locator("#groupbuy-state")).to_have_text(EN["groupbuy.you.authorised"])

    ola = viewer(new_page, room["id"], server.create_user("ola"), DESKTOP)
    expect(ola.locator("#groupbuy-card")).to_be_visible()
    ola.screenshot(path=str(screenshots / "groupbuy-viewer-1280-card.png"), animations="disabled")
    join_group(ola)
    expect(ola.locator("#groupbuy-state")).to_have_text(EN["groupbuy.you.captured"])
    expect(card.locator("#groupbuy-state")).to_have_text(EN["groupbuy.you.captured"])
    expect(card).to_have_attribute("data-state", "filled")
    expect(card.locator("#groupbuy-progress")).to_contain_text("Deal on! 2 joined")
    kari.screenshot(path=str(screenshots / "groupbuy-viewer-390-paid.png"), animations="disabled")
    ola.screenshot(path=str(screenshots / "groupbuy-viewer-1280-paid.png"), animations="disabled")
    expect(row).to_have_attribute("data-state", "filled")
    studio.screenshot(
        path=str(screenshots / "groupbuy-studio-1280.png"), full_page=True, animations="disabled"
    )

    studio.get_by_role("button", name="Stop the group buy of Cast-iron teapot").click()
    expect(row).to_have_attribute("data-state", "ended")
    expect(card.locator("#groupbuy-progress")).to_have_text(EN["groupbuy.ended.stopped"])

    # The show's results mark the group buy as a moment: how many joined, and that it filled.
    studio.goto(f"/studio/results?room={room['id']}")
    markers = studio.locator("#markers")
    moment = EN["groupbuy.results.moment"].format(title="Cast-iron teapot", joined=2, needed=2)
    expect(markers).to_contain_text(f"{moment} · {EN['groupbuy.results.filled']}")
    studio.screenshot(
        path=str(screenshots / "groupbuy-results-1280.png"), full_page=True, animations="disabled"
    )


def test_a_replay_marks_each_group_buy_that_closed_with_how_many_joined(
    new_page: NewPage,
) -> None:
    t0 = 1_700_000_000_000
    recordings = [{"url": "/recordings/a.webm", "started_at": t0, "ended_at": t0 + 600_000}]

    def group(id: str, state: str, ended_s: int | None, filled: bool) -> dict[str, Any]:
        return {
            "id": id, "state": state, "product": {"title": f"Teapot {id}"}, "joined": 3,
            "min_buyers": 3, "filled_at": t0 if filled else None,
            "ended_at": t0 + ended_s * 1000 if ended_s is not None else None,
        }  # fmt: skip

    groups = [
        group("g2", "expired", 300, False),
        group("g1", "ended", 120, True),
        group("g3", "open", None, False),  # still open when the recording ends: no mark
        group("g4", "stopped", 900, False),  # after the recording: marked, nothing to play
    ]
    # A bare JSON page to import the module in: the browser's favicon request is the 404.
    page = new_page(viewport=DESKTOP, expected_console_errors=(r"status of 404",))
    page.goto("/static/locales/en.json")
    marks = page.evaluate(
        """async ([groups, recordings]) => {
          const m = await import('/static/js/viewer-replay.js');
          return m.groupMarks(groups, m.timeline(recordings));
        }""",
        [groups, recordings],
    )
    assert sorted((m["id"], m["reason"], m["at"]) for m in marks) == [
        ("g1", "filled", 120),
        ("g2", "not_filled", 300),
        ("g4", "not_filled", None),
    ]
    assert all(m["kind"] == "groupbuy" and (m["joined"], m["needed"]) == (3, 3) for m in marks)
