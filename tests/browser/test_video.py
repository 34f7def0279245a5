"""Video in a real headless Chromium: the studio publishes its camera over WHIP, viewers play
it over WHEP, and an ended show plays back as a replay with its product cards.

Chromium's fake camera (a test pattern and a beep, see support.CHROMIUM_ARGS) stands in for
a real one. Waits are on what a person would notice: the preview moving, the viewer's video
advancing (`currentTime`), a badge appearing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from livecommerce.errors import Forbidden, NotFound, RoomNotLive
from streams.offers import BadSdp, UnsupportedCodec

from .support import (
    DESKTOP,
    NewPage,
    Server,
    User,
    expect_timeout_ms,
    locale_strings,
    signed_in,
)

pytestmark = pytest.mark.browser

EN = locale_strings("en")
# Media takes longer than a page: ICE, DTLS and the first key frame come before any picture.
MEDIA_TIMEOUT_MS = expect_timeout_ms(20)


def joined(page: Page) -> None:
    expect(page.locator("body")).to_have_attribute("data-connection", "joined")


def open_studio(new_page: NewPage, host: User, room_id: object, **options: Any) -> Page:
    studio = new_page(viewport=DESKTOP, **options)
    signed_in(studio, host)
    studio.goto(f"/studio#{room_id}")
    joined(studio)
    return studio


def wait_playing(page: Page, selector: str, seconds: float = 0.5) -> None:
    """Waits until the video has a picture and its clock has moved on by `seconds`."""
    start = page.evaluate("sel => document.querySelector(sel).currentTime", selector)
    page.wait_for_function(
        """([sel, start, seconds]) => {
            const v = document.querySelector(sel);
            return v.readyState >= 2 && !v.paused && v.videoWidth > 0
                && v.currentTime > start + seconds;
        }""",
        arg=[selector, start, seconds],
        timeout=MEDIA_TIMEOUT_MS,
    )


def go_live(studio: Page) -> None:
    studio.locator("#go-live").click()
    expect(studio.locator("#preview")).to_have_attribute(
        "data-state", "live", timeout=MEDIA_TIMEOUT_MS
    )


# ---- the studio ---------------------------------------------------------------------------


def test_the_host_previews_the_camera_goes_live_and_stops(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Camera check")
    studio = open_studio(new_page, host, room["id"])
    preview = studio.locator("#preview")
    expect(preview).to_have_attribute("data-state", "off")
    expect(studio.locator("#go-live")).to_be_visible()

    # The preview first: only the host sees it, and nothing is sent yet.
    studio.locator("#camera-on").click()
    expect(preview).to_have_attribute("data-state", "previewing")
    expect(studio.locator("#publish-status")).to_have_text(EN["studio.live.previewing"])
    wait_playing(studio, "#preview-video")
    assert server.api("GET", f"/api/v1/rooms/{room['id']}")["state"] == "scheduled"

    # Go live publishes over WHIP; the server takes the scheduled room live.
    go_live(studio)
    expect(studio.locator("#publish-status")).to_have_text(EN["studio.live.live"])
    expect(studio.locator("#on-air")).to_be_visible()
    expect(studio.locator("#panel-state")).to_have_text(EN["room.state.live"])
    expect(studio.locator("#go-live")).to_be_hidden()
    expect(studio.locator("#stop-live")).to_be_visible()
    assert server.api("GET", f"/api/v1/rooms/{room['id']}")["state"] == "live"
    studio.screenshot(path=str(screenshots / "video-studio-live-1280.png"))

    # Stop ends the WHIP session and turns the camera off; the show itself goes on.
    studio.locator("#stop-live").click()
    expect(preview).to_have_attribute("data-state", "off")
    expect(studio.locator("#go-live")).to_be_visible()
    expect(studio.locator("#stop-live")).to_be_hidden()
    assert studio.evaluate("document.getElementById('preview-video').srcObject") is None
    assert server.api("GET", f"/api/v1/rooms/{room['id']}")["state"] == "live"

    # Going live again straight from the button turns the camera on by itself.
    go_live(studio)
    studio.locator("#stop-live").click()
    expect(preview).to_have_attribute("data-state", "off")


def test_a_refused_go_live_says_why_in_the_hosts_language(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Codec trouble")
    # Chromium logs the refusal's 400 as a console error; that one is expected here.
    studio = open_studio(
        new_page, host, room["id"], expected_console_errors=(r"status of 400",), locale="nb-NO"
    )

    def refuse(route: Route) -> None:
        route.fulfill(
            status=400,
            content_type="application/problem+json",
            body=json.dumps({"type": "about:blank", "title": "x", "code": UnsupportedCodec.code}),
        )

    studio.route("**/whip/rooms/**", refuse)
    studio.locator("#go-live").click()
    expect(studio.locator("#preview")).to_have_attribute("data-state", "error")
    nb = locale_strings("nb")
    expect(studio.locator("#publish-status")).to_have_text(
        nb["studio.live.error.unsupported_codec"]
    )
    # The camera stays on, so that the next try is one press away.
    expect(studio.locator("#go-live")).to_be_visible()
    expect(studio.locator("#camera-off")).to_be_visible()
    studio.screenshot(path=str(screenshots / "video-studio-error-nb-1280.png"))


def test_every_refusal_of_publishing_has_a_sentence_in_every_language() -> None:
    codes = {e.code for e in (BadSdp, UnsupportedCodec, Forbidden, NotFound, RoomNotLive)}
    for lang in ("en", "nb", "sv", "nl", "lv"):
        strings = locale_strings(lang)
        missing = sorted(c for c in codes if f"studio.live.error.{c}" not in strings)
        assert not missing, f"{lang}: {missing}"
