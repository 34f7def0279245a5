"""A show's results in a real headless Chromium: the host reads the results page of an ended
show (figures, chart, products, the CSV files), someone else is told the results are not
theirs, the studio's live card follows a live show, and the page reads well on a phone and a
laptop in every language.

Stories about what the server counted run against the real server; the screenshots and the
chart's moments use made-up results (results_fixture.py) served in place of the API's answer,
since a test cannot run half an hour of show.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from . import results_fixture
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
LANGUAGES = ("en", "nb", "sv", "nl", "lv")
LOCALES = {"en": "en-US", "nb": "nb-NO", "sv": "sv-SE", "nl": "nl-NL", "lv": "lv-LV"}
SHOTS = Path("/tmp/results-shots")


def serve_results(page: Page, answer: dict[str, Any]) -> None:
    """The page's results requests get `answer` (a dict the test may change between them)."""

    def fulfil(route: Route) -> None:
        route.fulfill(status=200, content_type="application/json", body=json.dumps(answer))

    page.route("**/api/v1/rooms/*/results", fulfil)


def open_results(page: Page, user: User | None, room_id: object) -> None:
    if user is not None:
        signed_in(page, user)
    page.goto(f"/studio/results?room={room_id}")


def horizontal_overflow(page: Page) -> int:
    overflow: int = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    return overflow


def chart_is_drawn(page: Page) -> bool:
    """Some pixels of the chart's canvas are not the background: lines, bars or marks."""
    drawn: bool = page.evaluate(
        """() => {
          const canvas = document.querySelector('#chart canvas');
          if (!canvas || !canvas.width) return false;
          const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          let painted = 0;
          for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted += 1;
          return painted > 500;
        }"""
    )
    return drawn


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_results_page_reads_well_on_a_phone_and_a_laptop_in_every_language(
    server: Server, new_page: NewPage, lang: str
) -> None:
    host = server.create_user("host")
    strings = locale_strings(lang)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, viewport in (("1280", DESKTOP), ("390", PHONE)):
        page = new_page(viewport=viewport, locale=LOCALES[lang])
        serve_results(page, results_fixture.results("r_fixture"))
        open_results(page, host, "r_fixture")
        expect(page.locator("body")).to_have_attribute("data-state", "ready")
        expect(page).to_have_title(strings["results.page_title"])
        expect(page.locator("h1")).to_have_text(strings["results.heading"])
        expect(page.locator("#results-status")).to_have_text(strings["results.status.final"])
        expect(page.locator("#products-rows tr")).to_have_count(3)
        expect(page.locator("#previous-rows tr")).to_have_count(3)
        page.wait_for_function("() => document.querySelector('#chart canvas')")
        assert chart_is_drawn(page)
        page.screenshot(path=str(SHOTS / f"results-{lang}-{name}.png"), full_page=True)
        assert horizontal_overflow(page) <= 0, f"{lang} at {name}px overflows sideways"


def live_card_figure(studio: Page, key: str) -> Any:
    return studio.locator(f"#live-figures [data-figure='{key}']")


def test_the_studio_follows_a_live_show_minute_by_minute(server: Server, new_page: NewPage) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Vinyl night")
    server.start_room(host, str(room["id"]))
    answer = results_fixture.results(str(room["id"]), status="live", minutes=5, title="Vinyl night")
    studio = new_page(viewport=DESKTOP)
    serve_results(studio, answer)
    signed_in(studio, host)
    studio.goto(f"/studio#{room['id']}")

    # Minute 4 is still running: the trends compare minute 3 with minute 2.
    card = studio.locator("#live-results")
    expect(card).to_be_visible()
    expect(live_card_figure(studio, "viewers_now").locator(".value")).to_have_text("48")
    expect(live_card_figure(studio, "unique_viewers").locator(".value")).to_have_text("412")
    expect(live_card_figure(studio, "gmv").locator(".value")).to_have_text("€2,840.00")
    expect(live_card_figure(studio, "conversion").locator(".value")).to_have_text("15.5%")
    expect(live_card_figure(studio, "clicks")).to_have_attribute("data-trend", "up")
    expect(live_card_figure(studio, "clicks")).to_contain_text(EN["studio.results.trend.up"])
    expect(live_card_figure(studio, "orders")).to_have_attribute("data-trend", "flat")
    link = card.get_by_role("link", name=EN["studio.results.full"])
    expect(link).to_have_attribute("href", f"/studio/results?room={room['id']}")

    # A minute later the card reads again by itself: fewer clicks than the minute before.
    answer.update(results_fixture.results(str(room["id"]), status="live", minutes=6, last_viewers=61))
    expect(live_card_figure(studio, "viewers_now").locator(".value")).to_have_text(
        "61", timeout=expect_timeout_ms(25)
    )
    expect(live_card_figure(studio, "clicks")).to_have_attribute("data-trend", "down")
    expect(live_card_figure(studio, "clicks")).to_contain_text(EN["studio.results.trend.down"])
    studio.locator("#live-results").screenshot(path=str(SHOTS / "studio-live-results-1280.png"))
