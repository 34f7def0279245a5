"""Follow and remind in a real headless Chromium: a guest opens the link of a scheduled show,
signs in, asks to be reminded, follows the creator, downloads the calendar file and copies
the link; the show going live turns the page into the live page; the creator's page."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from .support import DESKTOP, PHONE, NewPage, Server, User, locale_strings, signed_in

pytestmark = pytest.mark.browser

EN = locale_strings("en")
NO_SHARE = "delete Navigator.prototype.share; delete Navigator.prototype.canShare;"


def scheduled_room(server: Server, host: User, title: str, in_s: int) -> dict[str, Any]:
    room: dict[str, Any] = server.api(
        "POST",
        "/api/v1/rooms",
        {
            "title": title,
            "currency": "EUR",
            "locale": "en",
            "scheduled_at": int(time.time() * 1000) + in_s * 1000,
        },
        token=host.token,
    )
    return room


def shoot(page: Page, screenshots: Path, name: str, size: dict[str, int]) -> None:
    page.set_viewport_size(ViewportSize(width=size["width"], height=size["height"]))
    page.screenshot(path=str(screenshots / f"follows-{name}-{size['width']}.png"))


def test_a_guest_opens_a_scheduled_show_signs_in_asks_for_a_reminder_and_follows(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("kari")
    room = scheduled_room(server, host, "Winter wool drop", 2 * 3600 + 300)
    username, password, _name = server.register("ola")
    page = new_page(permissions=["clipboard-read", "clipboard-write"])
    page.add_init_script(NO_SHARE)
    page.goto(f"/rooms/{room['id']}")

    landing = page.locator("#show-landing")
    expect(landing).to_be_visible()
    expect(page.locator("#room-title")).to_have_text("Winter wool drop")
    creator = page.locator("#landing-creator-link")
    expect(creator).to_have_text(host.display_name)
    expect(creator).to_have_attribute("href", f"/creators/{host.id}")
    expect(page.locator("#landing-countdown")).to_have_text(
        re.compile(r"^Starts in 2 h 0[45] min$")
    )
    expect(page.locator("#landing-followers")).to_have_text("0 followers")
    shoot(page, screenshots, "landing-guest", PHONE)

    # Remind me asks a guest to sign in first, then sets the reminder.
    page.locator("#remind-button").click()
    sheet = page.locator("#auth-sheet")
    expect(sheet).to_be_visible()
    page.locator("#auth-username").fill(username)
    page.locator("#auth-password").fill(password)
    page.locator("#auth-submit").click()
    expect(sheet).to_be_hidden()
    remind = page.locator("#remind-button")
    expect(remind).to_have_attribute("aria-pressed", "true")
    expect(remind).to_contain_text(EN["follow.reminded"])
    expect(page.locator("#remind-count")).to_have_text("1 person wants a reminder")

    follow = page.locator("#landing-follow")
    follow.click()
    expect(follow).to_have_attribute("aria-pressed", "true")
    expect(follow).to_have_text(EN["follow.following"])
    expect(page.locator("#landing-followers")).to_have_text("1 follower")

    # The calendar file.
    with page.expect_download() as download_info:
        page.locator("#calendar-link").click()
    download = download_info.value
    assert download.suggested_filename == "Winter-wool-drop.ics"
    ics = Path(download.path()).read_text(encoding="utf-8")
    assert f"UID:{room['id']}@livecommerce" in ics
    assert f"/rooms/{room['id']}" in ics

    # Share without the Web Share API copies the link and says so.
    page.locator("#share-button").click()
    expect(page.locator("#landing-status")).to_have_text(EN["follow.link_copied"])
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == f"{server.http_url}/rooms/{room['id']}"
    shoot(page, screenshots, "landing-signed-in", PHONE)
    shoot(page, screenshots, "landing-signed-in", DESKTOP)

    # The show goes live: the page turns into the live page, the creator's name with Follow
    # under the top bar.
    server.start_room(host, room["id"])
    expect(page.locator("#live-badge")).to_be_visible()
    expect(landing).to_be_hidden()
    expect(page.locator("#host-row")).to_be_visible()
    expect(page.locator("#host-chip-link")).to_have_text(host.display_name)
    expect(page.locator("#host-follow")).to_have_attribute("aria-pressed", "true")
    shoot(page, screenshots, "live", PHONE)
    shoot(page, screenshots, "live", DESKTOP)


def test_the_creator_page_shows_followers_live_upcoming_and_past_shows(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("anna")
    viewer = server.create_user("per")
    ended = scheduled_room(server, host, "Spring linen", 60)
    server.start_room(host, ended["id"])
    server.api("POST", f"/api/v1/rooms/{ended['id']}/end", token=host.token)
    upcoming = scheduled_room(server, host, "Summer sandals", 3 * 86400)
    live = scheduled_room(server, host, "Knitting night", 0)
    server.start_room(host, live["id"])

    page = new_page(viewport=DESKTOP)
    signed_in(page, viewer)
    # From the start page, the creator's name on a show leads to their page.
    page.goto("/")
    by = EN["viewer.hosted_by"].format(name=host.display_name)
    link = page.locator("#live-rooms").get_by_role("link", name=by).first
    link.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "follows-index-1280.png"))
    link.click()
    expect(page).to_have_url(f"{server.http_url}/creators/{host.id}")
    shoot(page, screenshots, "creator-from-index", DESKTOP)
    expect(page.locator("#creator-name")).to_have_text(host.display_name)
    expect(page.locator("#creator-followers")).to_have_text("0 followers")
    expect(page.locator("#seller-rating")).to_be_hidden()
    expect(page.locator("#creator-live-list a")).to_have_text(["Knitting night"])
    expect(page.locator("#creator-upcoming-list a")).to_have_text(["Summer sandals"])
    expect(page.locator("#creator-past-list a")).to_have_text(["Spring linen"])
    expect(page.locator("#creator-past-list a")).to_have_attribute("href", f"/rooms/{ended['id']}")

    follow = page.locator("#creator-follow")
    follow.click()
    expect(follow).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#creator-followers")).to_have_text("1 follower")
    remind = page.locator("#creator-upcoming-list .remind-button")
    remind.click()
    expect(remind).to_have_attribute("aria-pressed", "true")
    assert server.api("GET", f"/api/v1/rooms/{upcoming['id']}/reminder", token=viewer.token)[
        "reminded"
    ]
    shoot(page, screenshots, "creator", DESKTOP)
    shoot(page, screenshots, "creator", PHONE)

    # Reloaded, the page remembers both; a stranger's creator page is not found.
    page.reload()
    expect(page.locator("#creator-follow")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#creator-upcoming-list .remind-button")).to_have_attribute(
        "aria-pressed", "true"
    )
    # The host's studio says how many follow and how many asked for a reminder.
    studio = new_page(viewport=DESKTOP)
    signed_in(studio, host)
    studio.goto(f"/studio#{upcoming['id']}")
    expect(studio.locator("#panel-audience")).to_have_text("Followers: 1 · Reminders: 1")
    studio.locator("#room-panel").screenshot(path=str(screenshots / "follows-studio-1280.png"))

    stranger = new_page(expected_console_errors=(r"status of 404",))
    stranger.goto("/creators/u_nobody_here")
    expect(stranger.locator("#creator-name")).to_have_text(EN["follow.page.not_found"])
