"""Video in a real headless Chromium: the studio publishes its camera over WHIP, viewers play
it over WHEP, and an ended show plays back as a replay with its product cards.

Chromium's fake camera (a test pattern and a beep, see support.CHROMIUM_ARGS) stands in for
a real one. Waits are on what a person would notice: the preview moving, the viewer's video
advancing (`currentTime`), a badge appearing.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest
from playwright.sync_api import Page, Route, ViewportSize, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from livecommerce.errors import Forbidden, NotFound, RoomNotLive
from livecommerce.media.offers import BadSdp, UnsupportedCodec
from tests.livecommerce.media.peers import SDP, accept, publisher_offer

from .support import (
    DESKTOP,
    PHONE,
    NewPage,
    Server,
    User,
    expect_timeout_ms,
    locale_strings,
    read_png,
    signed_in,
)

pytestmark = pytest.mark.browser

EN = locale_strings("en")
# Media takes longer than a page: ICE, DTLS and the first key frame come before any picture.
MEDIA_TIMEOUT_MS = expect_timeout_ms(20)


def joined(page: Page) -> None:
    expect(page.locator("body")).to_have_attribute("data-connection", "joined")


def open_studio(
    new_page: NewPage, host: User, room_id: object, *, init_script: str = "", **options: Any
) -> Page:
    studio = new_page(viewport=DESKTOP, **options)
    signed_in(studio, host)
    if init_script:
        studio.add_init_script(init_script)
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
    studio.set_viewport_size(ViewportSize(width=PHONE["width"], height=PHONE["height"]))
    studio.locator("#preview").scroll_into_view_if_needed()
    studio.screenshot(path=str(screenshots / "video-studio-live-390.png"))
    studio.set_viewport_size(ViewportSize(width=DESKTOP["width"], height=DESKTOP["height"]))

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


async def publish_from_encoder(url: str, token: str) -> int:
    """What OBS does with the two settings: a WHIP offer to `url` with `token`; the status."""
    pc, _camera, offer = await publisher_offer()
    try:
        async with httpx.AsyncClient(timeout=MEDIA_TIMEOUT_MS / 1000) as http:
            auth = {"Authorization": f"Bearer {token}"}
            answer = await http.post(url, content=offer, headers={**SDP, **auth})
            if answer.status_code == 201:
                await accept(pc, answer.text)
                ended = await http.delete(
                    httpx.URL(url).join(answer.headers["location"]), headers=auth
                )
                assert ended.is_success, ended.text
            return answer.status_code
    finally:
        await pc.close()


def test_the_host_copies_the_settings_for_obs_and_an_encoder_goes_live_with_them(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Studio lights from OBS")
    studio = open_studio(new_page, host, room["id"])
    studio.context.grant_permissions(["clipboard-read", "clipboard-write"])
    panel = studio.locator("#obs-panel")
    expect(panel.locator("summary")).to_have_text(EN["studio.obs.heading"])
    expect(studio.locator("#obs-server")).to_be_hidden()  # folded until the host opens it
    panel.locator("summary").click()

    # The server URL is the WHIP endpoint at the server's root, for this show.
    server_field = studio.locator("#obs-server")
    expect(server_field).to_have_text(server.url(f"/whip/rooms/{room['id']}"))
    url = server_field.inner_text()
    assert url.endswith(f"/whip/rooms/{room['id']}")
    assert "/api/" not in url

    # The token stays masked until Show, and goes back under the mask on Hide.
    token_field = studio.locator("#obs-token")
    show = studio.locator("#obs-show-token")
    expect(show).to_have_attribute("aria-pressed", "false")
    assert host.token not in panel.inner_text()
    show.click()
    expect(token_field).to_have_text(host.token)
    expect(show).to_have_attribute("aria-pressed", "true")
    expect(show).to_have_text(EN["studio.obs.hide"])
    token = token_field.inner_text()
    show.click()
    expect(token_field).not_to_have_text(host.token)

    # Copy puts the URL on the clipboard, and says so for a moment.
    copy_server = studio.locator("#obs-copy-server")
    copy_server.click()
    expect(copy_server).to_have_text(EN["studio.obs.copied"])
    expect(studio.locator("#obs-status")).to_have_text(EN["studio.obs.server_copied"])
    assert studio.evaluate("navigator.clipboard.readText()") == url
    expect(copy_server).to_have_text(EN["studio.obs.copy"])
    # The token's Copy copies the token itself, masked or not.
    studio.locator("#obs-copy-token").click()
    expect(studio.locator("#obs-status")).to_have_text(EN["studio.obs.token_copied"])
    assert studio.evaluate("navigator.clipboard.readText()") == token
    studio.screenshot(path=str(screenshots / "video-studio-obs-1280.png"))
    studio.set_viewport_size(ViewportSize(width=PHONE["width"], height=PHONE["height"]))
    panel.scroll_into_view_if_needed()
    studio.screenshot(path=str(screenshots / "video-studio-obs-390.png"))

    # The proof: an encoder given exactly these two settings is let in, and the show is live.
    # aiortc needs an asyncio loop of its own: Playwright's sync API holds this thread's.
    with ThreadPoolExecutor(1) as pool:
        status = pool.submit(asyncio.run, publish_from_encoder(url, token)).result()
    assert status == 201
    expect(studio.locator("#panel-state")).to_have_text(EN["room.state.live"])
    assert server.api("GET", f"/api/v1/rooms/{room['id']}")["state"] == "live"


def test_every_refusal_of_publishing_has_a_sentence_in_every_language() -> None:
    codes = {e.code for e in (BadSdp, UnsupportedCodec, Forbidden, NotFound, RoomNotLive)}
    for lang in ("en", "nb", "sv", "nl", "lv"):
        strings = locale_strings(lang)
        missing = sorted(c for c in codes if f"studio.live.error.{c}" not in strings)
        assert not missing, f"{lang}: {missing}"


# ---- the viewer ---------------------------------------------------------------------------


def open_viewer(
    new_page: NewPage, room_id: object, *, init_script: str = "", **options: Any
) -> Page:
    options.setdefault("viewport", PHONE)
    viewer = new_page(**options)
    if init_script:
        viewer.add_init_script(init_script)
    viewer.goto(f"/rooms/{room_id}")
    joined(viewer)
    return viewer


def test_a_viewer_watches_the_host_live_and_unmutes(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Sneakers, live from the shop floor")
    studio = open_studio(new_page, host, room["id"])
    go_live(studio)

    # The viewer's video plays by itself, muted (what browsers allow), with a way to unmute.
    viewer = open_viewer(new_page, room["id"])
    wait_playing(viewer, "#video")
    expect(viewer.locator("body")).to_have_attribute("data-stream", "live")
    expect(viewer.locator("#live-badge")).to_be_visible()
    expect(viewer.locator("#live-badge")).to_have_text(EN["viewer.live"])
    expect(viewer.locator("#stream-status")).to_be_hidden()
    expect(viewer.locator("#poster")).to_be_hidden()
    sound = viewer.locator("#sound-button")
    expect(sound).to_be_visible()
    expect(sound).to_have_text(EN["viewer.video.unmute"])
    assert viewer.evaluate("document.getElementById('video').muted") is True
    assert viewer.evaluate("document.getElementById('video').srcObject.getTracks().length") == 2
    # On a phone the video fills the screen.
    box = viewer.locator("#video").bounding_box()
    assert box is not None
    assert (box["width"], box["height"]) == (PHONE["width"], PHONE["height"])
    viewer.screenshot(path=str(screenshots / "video-viewer-live-390.png"))

    sound.click()
    expect(sound).to_have_attribute("data-muted", "false")
    expect(sound).to_have_accessible_name(EN["viewer.video.mute"])
    assert viewer.evaluate("document.getElementById('video').muted") is False
    wait_playing(viewer, "#video", 0.2)  # unmuting did not stop it

    desktop = open_viewer(new_page, room["id"], viewport=DESKTOP)
    wait_playing(desktop, "#video")
    desktop.screenshot(path=str(screenshots / "video-viewer-live-1280.png"))

    # The host stops: viewers see that the video is off, and the show goes on.
    studio.locator("#stop-live").click()
    for page in (viewer, desktop):
        expect(page.locator("body")).to_have_attribute("data-stream", "offline")
        expect(page.locator("#stream-note")).to_have_text(EN["viewer.stream.offline"])
        expect(page.locator("#poster")).to_be_visible()
        expect(page.locator("#live-badge")).to_be_visible()
        expect(page.locator("#sound-button")).to_be_hidden()
    viewer.screenshot(path=str(screenshots / "video-viewer-offline-390.png"))

    # Back on air: the same page plays again by itself.
    go_live(studio)
    wait_playing(viewer, "#video")
    expect(viewer.locator("body")).to_have_attribute("data-stream", "live")


def test_viewers_see_the_host_reconnecting_when_the_studio_page_goes_away(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Studio reload")
    studio = open_studio(new_page, host, room["id"])
    go_live(studio)
    phone = open_viewer(new_page, room["id"])
    desktop = open_viewer(new_page, room["id"], viewport=DESKTOP)
    for page in (phone, desktop):
        wait_playing(page, "#video")

    # The host's studio tab goes away (a reload, a closed tab): the show is still live, and
    # viewers are told the host is reconnecting, not that the video is off.
    studio.goto("/")  # the home page: the studio is gone
    for page in (phone, desktop):
        expect(page.locator("body")).to_have_attribute("data-stream", "reconnecting")
        expect(page.locator("#stream-status")).to_be_visible()
        expect(page.locator("#stream-status")).to_have_text(EN["viewer.stream.host_reconnecting"])
        expect(page.locator("#stream-note")).to_be_hidden()
        expect(page.locator("#live-badge")).to_have_text(EN["viewer.live"])
    phone.screenshot(path=str(screenshots / "video-viewer-host-reconnecting-390.png"))
    desktop.screenshot(path=str(screenshots / "video-viewer-host-reconnecting-1280.png"))

    # The host is back and goes live again: the same viewer pages play on.
    studio.goto(f"/studio#{room['id']}")
    joined(studio)
    go_live(studio)
    for page in (phone, desktop):
        expect(page.locator("body")).to_have_attribute(
            "data-stream", "live", timeout=MEDIA_TIMEOUT_MS
        )
        wait_playing(page, "#video")
        expect(page.locator("#stream-status")).to_be_hidden()


PC_TRACKER = """
window.__pcs = [];
const Native = window.RTCPeerConnection;
window.RTCPeerConnection = class extends Native {
  constructor(...args) { super(...args); window.__pcs.push(this); }
};
"""


def test_on_a_desktop_the_whole_landscape_picture_shows(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "The whole picture")
    studio = open_studio(new_page, host, room["id"])
    go_live(studio)

    # Beside the chat column the player is narrower than a 16:9 camera picture: the picture
    # is shown whole, with dark bars above and below, never cut at its sides.
    desktop = open_viewer(new_page, room["id"], viewport=DESKTOP)
    wait_playing(desktop, "#video")
    size = desktop.evaluate(
        "() => { const v = document.getElementById('video');"
        " return [v.videoWidth, v.videoHeight]; }"
    )
    assert size[0] > size[1], f"the test camera sends a landscape picture, not {size}"
    player = desktop.locator("#video").bounding_box()
    assert player is not None
    assert player["width"] / player["height"] < size[0] / size[1]
    picture = read_png(desktop.locator("#video").screenshot(animations="disabled"))
    shown = round(picture.width * size[1] / size[0])  # the picture's height when shown whole
    bar = (picture.height - shown) // 2
    assert bar > 20, (picture.width, picture.height, shown)
    # Rows just outside the picture (clear of the controls over the player's top).
    assert picture.dark_row(bar - 4), "above the picture is no bar: the picture is cut"
    assert picture.dark_row(picture.height - bar + 3), "below the picture is no bar"
    assert not picture.dark_row(picture.height // 2), "no picture in the middle"
    desktop.screenshot(path=str(screenshots / "viewer-1280-video-whole.png"))

    # A phone still fills its screen with the picture, as shopping apps do.
    phone = open_viewer(new_page, room["id"])
    wait_playing(phone, "#video")
    box = phone.locator("#video").bounding_box()
    assert box is not None
    assert (box["width"], box["height"]) == (PHONE["width"], PHONE["height"])
    phone.screenshot(path=str(screenshots / "viewer-390-video.png"))


def test_viewers_see_reconnecting_while_the_hosts_video_stops(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Flaky uplink")
    studio = new_page(viewport=DESKTOP)
    signed_in(studio, host)
    studio.add_init_script(PC_TRACKER)  # lets the test cut the camera's frames off
    studio.goto(f"/studio#{room['id']}")
    joined(studio)
    go_live(studio)

    # The viewer's first WHEP request meets a busy server; the page tries again by itself.
    # (Chromium logs the 503 as a console error.)
    viewer = new_page(viewport=PHONE, expected_console_errors=(r"status of 503",))
    refused: list[str] = []

    def busy_once(route: Route) -> None:
        if refused:
            route.continue_()
            return
        refused.append(route.request.url)
        route.fulfill(
            status=503,
            headers={"Retry-After": "1"},
            content_type="application/problem+json",
            body=json.dumps({"title": "Busy", "code": "unavailable"}),
        )

    viewer.route("**/whep/rooms/**", busy_once)
    viewer.goto(f"/rooms/{room['id']}")
    wait_playing(viewer, "#video")
    assert len(refused) == 1

    # No frames for a while: the server tells the room the host is away.
    studio.evaluate(
        """() => {
            const sender = window.__pcs.at(-1).getSenders().find((s) => s.track?.kind === 'video');
            window.__cut = sender.track;
            return sender.replaceTrack(null);
        }"""
    )
    expect(viewer.locator("body")).to_have_attribute(
        "data-stream", "reconnecting", timeout=MEDIA_TIMEOUT_MS
    )
    expect(viewer.locator("#stream-status")).to_have_text(EN["viewer.stream.host_reconnecting"])
    viewer.screenshot(path=str(screenshots / "video-viewer-reconnecting-390.png"))

    # Frames again: the same session picks up, without a new WHEP request.
    sessions = viewer.evaluate(
        "performance.getEntriesByName(location.origin + '/whep/rooms/' + "
        f"{json.dumps(room['id'])}).length"
    )
    studio.evaluate(
        """() => window.__pcs.at(-1).getSenders()
            .find((s) => s.track === null).replaceTrack(window.__cut)"""
    )
    expect(viewer.locator("body")).to_have_attribute(
        "data-stream", "live", timeout=MEDIA_TIMEOUT_MS
    )
    wait_playing(viewer, "#video")
    expect(viewer.locator("#stream-status")).to_be_hidden()
    assert (
        viewer.evaluate(
            "performance.getEntriesByName(location.origin + '/whep/rooms/' + "
            f"{json.dumps(room['id'])}).length"
        )
        == sessions
    )


# ---- the replay ---------------------------------------------------------------------------


def create_product(server: Server, host: User, title: str, price: int) -> dict[str, Any]:
    body = {
        "sku": f"SKU-{title[:4].upper()}-{price}",
        "title": title,
        "price": price,
        "currency": "EUR",
        "stock": 5,
    }
    product: dict[str, Any] = server.api("POST", "/api/v1/products", body, token=host.token)
    return product


def pin(studio: Page, title: str) -> None:
    row = studio.locator("#product-list .product-row", has_text=title)
    row.get_by_role("button", name=EN["studio.products.pin_named"].format(title=title)).click()
    expect(row.locator(".pin-badge")).to_have_text(EN["studio.products.pinned"])


def seek(page: Page, fraction: float) -> None:
    """Moves the replay's slider as a person would, to `fraction` of the show."""
    page.locator("#replay-seek").fill(str(round(fraction * 1000)))


def test_an_ended_show_replays_with_the_products_pinned_along_the_way(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    tote = create_product(server, host, "Canvas tote bag", 2900)
    belt = create_product(server, host, "Leather belt", 4500)
    room = server.create_room(host, "End of season")
    studio = open_studio(new_page, host, room["id"])
    pin(studio, str(tote["title"]))  # before going live: the replay opens on the tote
    go_live(studio)
    viewer = open_viewer(new_page, room["id"])
    wait_playing(viewer, "#video", 1)
    pin(studio, str(belt["title"]))
    wait_playing(viewer, "#video", 1)
    studio.locator("#end-show").click()
    studio.locator("#confirm-end-button").click()
    expect(studio.locator("#panel-state")).to_have_text(EN["room.state.ended"])
    expect(studio.locator("#preview")).to_have_attribute("data-state", "off")

    # The viewer who watched it live gets the replay in the same video element; so does
    # someone who comes later.
    for page in (viewer, open_viewer(new_page, room["id"], viewport=DESKTOP)):
        expect(page.locator("body")).to_have_attribute("data-stream", "replay")
        expect(page.locator("#replay-badge")).to_be_visible(timeout=MEDIA_TIMEOUT_MS)
        expect(page.locator("#live-badge")).to_be_hidden()
        expect(page.locator("#room-status")).to_have_text(EN["viewer.status.ended"])
        wait_playing(page, "#video")
        assert str(page.evaluate("document.getElementById('video').src")).startswith(
            server.url("/recordings/")
        )
    desktop = page

    # Where the belt was pinned, as a fraction of the recording.
    replay = server.api("GET", f"/api/v1/rooms/{room['id']}/replay")
    (recording,) = replay["recordings"]
    belt_at = next(p["at"] for p in replay["pins"] if p["product"]["id"] == belt["id"])
    span = recording["ended_at"] - recording["started_at"]
    belt_pinned = (belt_at - recording["started_at"]) / span

    # Paused at the start: the tote was pinned then; at the end, the belt.
    viewer.locator("#replay-toggle").click()
    expect(viewer.locator("#replay-toggle")).to_have_attribute("data-playing", "false")
    card = viewer.locator("#product-card")
    seek(viewer, 0)
    expect(card.locator("#product-title")).to_have_text(str(tote["title"]))
    expect(card.locator("#product-price")).to_have_text("€29.00")
    expect(card.locator("#buy-button")).to_be_hidden()  # the show's sales are over
    expect(card.locator("#product-notice")).to_have_text(EN["shop.replay.featured"])
    viewer.screenshot(path=str(screenshots / "video-replay-390.png"))
    seek(viewer, 0.99)
    expect(card.locator("#product-title")).to_have_text(str(belt["title"]))

    # Played from just before the belt's pin, the card changes when the replay reaches it.
    seek(viewer, belt_pinned - 500 / span)
    expect(card.locator("#product-title")).to_have_text(str(tote["title"]))
    viewer.locator("#replay-toggle").click()
    expect(viewer.locator("#replay-toggle")).to_have_attribute("data-playing", "true")
    expect(card.locator("#product-title")).to_have_text(
        str(belt["title"]), timeout=MEDIA_TIMEOUT_MS
    )
    desktop.screenshot(path=str(screenshots / "video-replay-1280.png"))


# ---- more than one process ----------------------------------------------------------------


def stream_viewers(server: Server) -> float:
    """The `livecommerce_stream_viewers` gauge of this process (its WHEP sessions)."""
    with httpx.Client(timeout=MEDIA_TIMEOUT_MS / 1000) as http:
        text = http.get(server.url("/metrics")).text
    found = re.search(r"^livecommerce_stream_viewers (\S+)$", text, re.MULTILINE)
    assert found, "no livecommerce_stream_viewers in /metrics"
    return float(found.group(1))


def requests_logged(server: Server, path: str) -> list[tuple[str, int]]:
    """(method, status) of the requests for `path` in the process's request log, in order."""
    seen = []
    for line in server.log_path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("msg") == "request" and entry.get("path") == path:
            seen.append((str(entry["method"]), int(entry["status"])))
    return seen


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + MEDIA_TIMEOUT_MS / 1000
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_viewer_on_another_process_is_sent_to_the_process_with_the_stream(
    server: Server, second_server: Server, new_page: NewPage
) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Two processes, one show")
    room_id = str(room["id"])
    studio = open_studio(new_page, host, room_id)
    go_live(studio)  # on the first process, which claims the stream in Redis
    viewers_before = stream_viewers(server)

    # The viewer opens the room on the second process's origin, so its WHEP offer lands there
    # and is redirected to the first, another origin: the page follows it by itself.
    viewer = new_page(viewport=PHONE)
    errors: list[str] = []
    viewer.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    endpoint = f"/whep/rooms/{room_id}"
    try:
        with viewer.expect_response(
            lambda r: r.request.method == "POST" and r.url == server.url(endpoint),
            timeout=MEDIA_TIMEOUT_MS,
        ) as answered:
            viewer.goto(second_server.url(f"/rooms/{room_id}"))
    except PlaywrightTimeoutError:
        pytest.fail(f"the WHEP offer never reached the first process; console errors: {errors}")
    answer = answered.value
    joined(viewer)
    wait_playing(viewer, "#video")
    expect(viewer.locator("body")).to_have_attribute("data-stream", "live")

    # The offer went to the second process first, which answered 307 to the first.
    redirect = answer.request.redirected_from
    assert redirect is not None, "the offer was not redirected"
    assert redirect.url == second_server.url(endpoint)
    sent_on = redirect.response()
    assert sent_on is not None
    assert sent_on.status == 307
    assert sent_on.header_value("location") == server.url(endpoint)
    assert answer.status == 201
    # The session is the first process's: its Location, resolved against where the answer
    # came from, is there.
    location = answer.header_value("location")
    assert location is not None
    assert location.startswith("/whep/sessions/"), location
    session_url = urljoin(answer.url, location)
    assert session_url == server.url(location)
    assert stream_viewers(server) == viewers_before + 1
    assert stream_viewers(second_server) == 0

    # Leaving the page ends the session on the first process, and the page's DELETE goes there
    # (a preflight first: another origin). Closing the peer connection may have ended the
    # session by the time the DELETE comes, which then finds nothing (404).
    viewer.goto("about:blank")
    wait_for(lambda: stream_viewers(server) == viewers_before, "the first process's viewer to go")

    def deleted() -> bool:
        logged = requests_logged(server, location)
        refused = [(m, s) for m, s in logged if m == "OPTIONS" and not 200 <= s < 300]
        assert not refused, f"the first process refused the DELETE's preflight: {logged}"
        return any(m == "DELETE" and s in (200, 404) for m, s in logged)

    wait_for(deleted, "the page's DELETE of its session on the first process")
    assert requests_logged(second_server, location) == []
    with httpx.Client(timeout=MEDIA_TIMEOUT_MS / 1000) as http:
        assert http.delete(session_url).status_code == 404  # no such session any more


# ---- H.264 --------------------------------------------------------------------------------

# The video codec of the page's newest peer connection, as its statistics name it once media
# flows: `type` is "outbound-rtp" (what the studio sends) or "inbound-rtp" (what a viewer gets).
VIDEO_CODEC_IN_STATS = """async (type) => {
    const pc = (window.__pcs || []).at(-1);
    if (!pc) return null;
    const stats = await pc.getStats();
    for (const s of stats.values()) {
        if (s.type === type && s.kind === 'video' && s.codecId && stats.has(s.codecId)) {
            return stats.get(s.codecId).mimeType;
        }
    }
    return null;
}"""


def video_codec_in_stats(page: Page, rtp_type: str) -> str:
    found = page.wait_for_function(
        f"({VIDEO_CODEC_IN_STATS})({json.dumps(rtp_type)})", timeout=MEDIA_TIMEOUT_MS, polling=100
    )
    return str(found.json_value())


def top_level_boxes(head: bytes) -> list[str]:
    """The types of the MP4 boxes that start within `head`, the file's first bytes, in order."""
    boxes = []
    at = 0
    while at + 8 <= len(head):
        size = int.from_bytes(head[at : at + 4], "big")
        boxes.append(head[at + 4 : at + 8].decode("latin-1"))
        if size == 1 and at + 16 <= len(head):
            size = int.from_bytes(head[at + 8 : at + 16], "big")  # a 64-bit size
        if size < 8:
            break  # 0: the box runs to the end of the file
        at += size
    return boxes


MP4_H264 = 'video/mp4; codecs="avc1.42E01E, opus"'


def test_the_host_goes_live_in_h264_and_the_replay_is_an_mp4(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Phone camera, hardware encoder")
    studio = open_studio(new_page, host, room["id"], init_script=PC_TRACKER)

    # The choice sits under Go live: Automatic (VP8) unless the host picked something else.
    codec = studio.locator("#video-codec")
    expect(codec).to_be_visible()
    expect(codec).to_be_enabled()
    expect(codec).to_have_value("auto")
    expect(studio.get_by_label(EN["studio.codec.label"])).to_have_value("auto")
    expect(codec.locator("option")).to_have_text([EN["studio.codec.auto"], EN["studio.codec.h264"]])
    expect(studio.locator("#video-codec-hint")).to_have_text(EN["studio.codec.hint"])
    codec.select_option("h264")
    assert studio.evaluate("localStorage.getItem('lc.video_codec')") == "h264"

    # The studio remembers it.
    studio.reload()
    joined(studio)
    expect(codec).to_have_value("h264")
    studio.screenshot(path=str(screenshots / "video-studio-codec-1280.png"))
    studio.set_viewport_size(ViewportSize(width=PHONE["width"], height=PHONE["height"]))
    studio.locator("#video-codec-field").scroll_into_view_if_needed()
    studio.screenshot(path=str(screenshots / "video-studio-codec-390.png"))
    studio.set_viewport_size(ViewportSize(width=DESKTOP["width"], height=DESKTOP["height"]))

    # Live in H.264: the codec is fixed while the stream runs.
    go_live(studio)
    expect(codec).to_be_disabled()
    assert video_codec_in_stats(studio, "outbound-rtp") == "video/H264"

    # The server forwards the stream as it came: the viewer receives H.264, and it plays.
    viewer = open_viewer(new_page, room["id"], init_script=PC_TRACKER)
    wait_playing(viewer, "#video", 1)
    assert video_codec_in_stats(viewer, "inbound-rtp") == "video/H264"

    # The host ends the show; the recording is an MP4 with its index first (faststart).
    studio.locator("#end-show").click()
    studio.locator("#confirm-end-button").click()
    expect(studio.locator("#panel-state")).to_have_text(EN["room.state.ended"])
    expect(studio.locator("#preview")).to_have_attribute("data-state", "off")
    expect(studio.locator("#video-codec-field")).to_be_hidden()
    expect(viewer.locator("body")).to_have_attribute("data-stream", "replay")
    expect(viewer.locator("#replay-badge")).to_be_visible(timeout=MEDIA_TIMEOUT_MS)
    replay = server.api("GET", f"/api/v1/rooms/{room['id']}/replay")
    (recording,) = replay["recordings"]
    assert recording["media_type"] == "video/mp4", recording
    with httpx.Client(timeout=MEDIA_TIMEOUT_MS / 1000) as http:
        got = http.get(server.url(recording["url"]), headers={"Range": "bytes=0-65535"})
    assert got.status_code == 206, got.status_code
    assert got.headers["content-type"].startswith("video/mp4"), got.headers
    boxes = top_level_boxes(got.content)
    assert boxes[:1] == ["ftyp"], boxes
    assert "moov" in boxes, f"no moov box before the media: {boxes}"
    assert "mdat" not in boxes or boxes.index("moov") < boxes.index("mdat"), boxes

    # The viewer's page plays it in the same video element.
    if not viewer.evaluate(f"document.createElement('video').canPlayType({json.dumps(MP4_H264)})"):
        pytest.skip(f"this Chromium cannot play {MP4_H264} in a <video>: the replay is not played")
    wait_playing(viewer, "#video")
    src = str(viewer.evaluate("document.getElementById('video').src"))
    assert src == server.url(recording["url"]), src
    # With its sound: Chromium decodes the recording's Opus track (muted or not).
    viewer.wait_for_function(
        "document.getElementById('video').webkitAudioDecodedByteCount > 0",
        timeout=MEDIA_TIMEOUT_MS,
    )
    viewer.screenshot(path=str(screenshots / "video-replay-mp4-390.png"))


# Takes H.264 out of what the browser says it can send, as a browser without it would.
NO_H264 = """
const nativeCapabilities = RTCRtpSender.getCapabilities.bind(RTCRtpSender);
RTCRtpSender.getCapabilities = (kind) => {
  const caps = nativeCapabilities(kind);
  if (caps && kind === 'video') {
    caps.codecs = caps.codecs.filter((c) => c.mimeType !== 'video/H264');
  }
  return caps;
};
"""


def test_a_browser_without_h264_has_no_codec_choice_and_goes_live_in_vp8(
    server: Server, new_page: NewPage
) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Any browser will do")
    # H.264 was chosen on this browser before (say, before an update took it away).
    chosen = "localStorage.setItem('lc.video_codec', 'h264');"
    studio = open_studio(new_page, host, room["id"], init_script=PC_TRACKER + NO_H264 + chosen)
    expect(studio.locator("#go-live")).to_be_visible()
    expect(studio.locator("#video-codec-field")).to_be_hidden()
    expect(studio.locator("#video-codec option[value='h264']")).to_have_count(0)
    go_live(studio)
    assert video_codec_in_stats(studio, "outbound-rtp") == "video/VP8"
