"""Giveaways in a real headless Chromium: the host starts one from the studio, viewers enter
with one tap (or the free entry of a buyers' giveaway), the winner gives a shipping address
for the prize, and another viewer verifies the draw in the browser.

Waits are Playwright's auto-waiting `expect` on what the pages show; a giveaway runs for its
shortest time (10 s), so the server's clock ends it.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from .support import (
    DESKTOP,
    PHONE,
    NewPage,
    Server,
    User,
    expect_timeout_ms,
    locale_strings,
    signed_in,
)

pytestmark = pytest.mark.browser

EN = locale_strings("en")
SECONDS = 10
DRAW_MS = expect_timeout_ms(SECONDS + 10)


def joined(page: Page) -> None:
    expect(page.locator("body")).to_have_attribute("data-connection", "joined")


def open_page(
    new_page: NewPage, server: Server, path: str, user: User, viewport: dict[str, int]
) -> Page:
    page = new_page(viewport=viewport)
    signed_in(page, user)
    page.goto(server.url(path))
    joined(page)
    return page


def shoot(page: Page, target: Any, shots: Path, name: str) -> None:
    """The same view at the phone's size and the laptop's."""
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(ViewportSize(width=viewport["width"], height=viewport["height"]))
        target.screenshot(path=str(shots / f"giveaway-{name}-{size}.png"), animations="disabled")


def start_giveaway(studio: Page, product: dict[str, Any], kind: str) -> None:
    studio.locator("#giveaway-product").select_option(str(product["id"]))
    studio.get_by_label(EN["giveaway.studio.kind"]).select_option(kind)
    studio.get_by_label(EN["giveaway.studio.duration"]).fill(str(SECONDS))
    studio.get_by_role("button", name=EN["giveaway.studio.start"]).click()
    expect(studio.locator("#giveaway-live-title")).to_have_text(
        EN["giveaway.studio.running"].format(title=product["title"])
    )


def test_a_host_gives_a_prize_away_the_winner_claims_it_and_a_viewer_verifies_the_draw(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    shots = screenshots
    host = server.create_user("host")
    room = server.create_room(host, "Yarn night", currency="EUR")
    server.start_room(host, room["id"])
    body = {"sku": f"GIVE-{uuid.uuid4().hex[:8]}", "title": "Hand-dyed yarn", "price": 2500,
            "currency": "EUR", "stock": 2}  # fmt: skip
    product: dict[str, Any] = server.api("POST", "/api/v1/products", body, token=host.token)

    studio = open_page(new_page, server, f"/studio#{room['id']}", host, DESKTOP)
    ada_user, bo_user, cy_user = (server.create_user(n) for n in ("ada", "bo", "cy"))
    ada = open_page(new_page, server, f"/rooms/{room['id']}", ada_user, PHONE)
    bo = open_page(new_page, server, f"/rooms/{room['id']}", bo_user, DESKTOP)
    cy = open_page(new_page, server, f"/rooms/{room['id']}", cy_user, PHONE)

    # The host starts a giveaway for everyone watching: each viewer sees the card and the rule.
    start_giveaway(studio, product, "standard")
    for page in (ada, bo, cy):
        expect(page.locator("#giveaway-title")).to_have_text(
            EN["giveaway.prize"].format(title="Hand-dyed yarn")
        )
        expect(page.locator("#giveaway-rule")).to_have_text(EN["giveaway.rule.standard"])
        expect(page.locator("#product-card")).to_be_hidden()

    # Ada and Bo enter with one tap; the studio and Cy see the count move.
    for page in (ada, bo):
        page.get_by_role("button", name=EN["giveaway.enter"]).click()
        expect(page.locator("#giveaway-enter")).to_have_text(EN["giveaway.entered"])
        expect(page.locator("#giveaway-notice")).to_have_text(EN["giveaway.entered_note"])
    two = EN["giveaway.entrants.other"].format(count="2")
    expect(studio.locator("#giveaway-live-count")).to_have_text(two)
    expect(cy.locator("#giveaway-count")).to_have_text(two)
    shoot(ada, ada.locator("#giveaway-card"), shots, "card-entered")
    shoot(ada, ada, shots, "viewer-page")
    shoot(studio, studio.locator("#giveaway-box"), shots, "studio-live")

    # The draw, by the server's clock: everyone sees who won.
    expect(cy.locator("#giveaway-result")).to_contain_text("Hand-dyed yarn", timeout=DRAW_MS)
    said = str(cy.locator("#giveaway-result").text_content())
    winner, winner_user = (ada, ada_user) if ada_user.display_name in said else (bo, bo_user)
    assert winner_user.display_name in said
    expect(studio.locator("#giveaway-live-result")).to_have_text(
        EN["giveaway.result.drawn"].format(name=winner_user.display_name, title="Hand-dyed yarn")
    )
    expect(winner.locator("#giveaway-result")).to_have_text(
        EN["giveaway.result.you"].format(title="Hand-dyed yarn")
    )

    # The winner gives the address for the prize: nothing to pay.
    expect(winner.locator("#giveaway-won-title")).to_have_text(EN["giveaway.won.title"])
    shoot(winner, winner.locator("#giveaway-card"), shots, "card-won")
    winner.get_by_role("button", name=EN["giveaway.won.claim"]).click()
    sheet = winner.locator("#claim-sheet")
    expect(sheet).to_be_visible()
    winner.get_by_role("button", name=EN["giveaway.claim.submit"]).click()
    expect(winner.locator("#claim-error")).to_have_text(EN["giveaway.claim.missing"])
    sheet.get_by_label(EN["giveaway.claim.name"]).fill("Kari Nordmann")
    sheet.get_by_label(EN["giveaway.claim.line1"], exact=True).fill("Storgata 1")
    sheet.get_by_label(EN["giveaway.claim.postal_code"]).fill("0155")
    sheet.get_by_label(EN["giveaway.claim.city"]).fill("Oslo")
    sheet.get_by_label(EN["giveaway.claim.country"]).select_option("NO")
    shoot(winner, winner.locator("#claim-sheet"), shots, "claim-sheet")
    winner.get_by_role("button", name=EN["giveaway.claim.submit"]).click()
    expect(sheet).to_be_hidden()
    expect(winner.locator("#giveaway-notice")).to_have_text(
        EN["giveaway.claim.done"].format(title="Hand-dyed yarn")
    )
    expect(winner.locator("#giveaway-won")).to_be_hidden()
    expect(
        studio.locator("#orders-list .order-row", has_text=winner_user.display_name)
    ).to_be_visible()

    # Cy, who did not enter, verifies the draw: the browser recomputes the same winner.
    cy.get_by_role("button", name=EN["giveaway.verify.open"]).click()
    outcome = cy.locator("#verify-outcome")
    expect(outcome).to_have_attribute("data-verified", "yes")
    expect(outcome).to_contain_text(winner_user.id)
    cy.locator("#verify-sheet details summary").click()
    expect(cy.locator("#verify-sheet details li")).to_have_count(2)
    shoot(cy, cy.locator("#verify-sheet"), shots, "verify-sheet")
    cy.locator("#verify-close").click()

    # A buyers' giveaway: Cy has bought nothing, and enters free (no purchase necessary).
    start_giveaway(studio, product, "buyers")
    expect(cy.locator("#giveaway-rule")).to_have_text(EN["giveaway.rule.buyers"])
    cy.get_by_role("button", name=EN["giveaway.enter"]).click()
    expect(cy.locator("#giveaway-notice")).to_have_text(EN["giveaway.error.not_a_buyer"])
    shoot(cy, cy.locator("#giveaway-card"), shots, "card-buyers")
    cy.get_by_role("button", name=EN["giveaway.free_entry"]).click()
    expect(cy.locator("#giveaway-notice")).to_have_text(EN["giveaway.entered_free"])
    expect(cy.locator("#giveaway-enter")).to_have_text(EN["giveaway.entered"])

    # The host cancels it: the prize goes back to stock, and the viewers are told.
    studio.get_by_role("button", name=EN["giveaway.studio.cancel"]).click()
    cancelled = EN["giveaway.result.cancelled"].format(title="Hand-dyed yarn")
    expect(cy.locator("#giveaway-result")).to_have_text(cancelled)
    expect(studio.locator("#giveaway-live-result")).to_have_text(cancelled)
    found = server.api("GET", f"/api/v1/products/{product['id']}")
    assert found["stock"] == 1  # one given away, one back

    # After the show, its replay marks both giveaways like lots, and the host's results list
    # each as a moment with how many entered and who won.
    server.api("POST", f"/api/v1/rooms/{room['id']}/end", token=host.token)
    marks = cy.locator("#replay-lots .replay-lot.giveaway")
    expect(marks).to_have_text([EN["giveaway.replay.mark"].format(title="Hand-dyed yarn")] * 2)
    expect(cy.locator("#giveaway-enter")).to_be_hidden()
    results = new_page(viewport=DESKTOP)
    signed_in(results, host)
    results.goto(f"/studio/results?room={room['id']}")
    moments = results.locator("#markers .marker-item.giveaway")
    expect(moments).to_have_count(2)
    drawn = " · ".join([
        EN["results.marker.giveaway_named"].format(title="Hand-dyed yarn"),
        EN["giveaway.entrants.other"].format(count="2"),
        EN["giveaway.results.winner"].format(name=winner_user.display_name),
    ])  # fmt: skip
    expect(moments.first).to_contain_text(drawn)
    expect(moments.nth(1)).to_contain_text(EN["giveaway.entrants.one"].format(count="1"))
    results.locator("details.disclosure summary", has_text=EN["results.markers.heading"]).click()
    shoot(results, results.locator("#markers"), shots, "results-moments")
