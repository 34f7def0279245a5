"""The viewer page and the studio in a real headless Chromium, against a real server.

Each test reads as a person's story; waits are Playwright's auto-waiting `expect`.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from .support import (
    DESKTOP,
    PHONE,
    ApiFailure,
    NewPage,
    Server,
    User,
    locale_strings,
    on_socket,
    say_in_chat,
    signed_in,
)

pytestmark = pytest.mark.browser

CONTROLS_ON_PHONE = (
    "#live-badge",
    "#viewer-count",
    "#lang-switch",
    "#account-button",
    "#heart-button",
    "#chat-signin-button",
)
EN = locale_strings("en")
NB = locale_strings("nb")


def live_room(server: Server, title: str) -> tuple[User, dict[str, object]]:
    host = server.create_user("host")
    room = server.create_room(host, title)
    server.start_room(host, str(room["id"]))
    return host, room


def joined(page: Page) -> None:
    """Waits until the page has joined the room socket (its `welcome` arrived)."""
    expect(page.locator("body")).to_have_attribute("data-connection", "joined")


def open_viewer(page: Page, room_id: object) -> None:
    page.goto(f"/rooms/{room_id}")
    expect(page.locator("#live-badge")).to_be_visible()
    joined(page)


def sign_in_through_sheet(page: Page, username: str, password: str) -> None:
    dialog = page.locator("#auth-sheet")
    expect(dialog).to_be_visible()
    page.locator("#auth-username").fill(username)
    page.locator("#auth-password").fill(password)
    page.locator("#auth-submit").click()
    expect(dialog).to_be_hidden()


def test_signing_out_on_the_page_ends_the_token_on_the_server(
    server: Server, new_page: NewPage
) -> None:
    _, room = live_room(server, "Sign-out show")
    leaver = server.create_user("leaver")
    page = new_page(viewport=PHONE)
    signed_in(page, leaver)
    open_viewer(page, room["id"])
    expect(page.locator("#chat-input")).to_be_visible()
    # The page's own reads after the welcome (orders for a won lot or prize) finish first: one
    # still on its way when the token ends is answered 401, which is right but not this story.
    page.wait_for_load_state("networkidle")
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/sessions/current") and r.request.method == "DELETE"
    ) as answer:
        page.locator("#account-button").click()
    assert answer.value.status == 204
    expect(page.locator("#chat-signin-button")).to_be_visible()
    with pytest.raises(ApiFailure) as refused:  # a copy of the token is no use to anyone now
        server.api("GET", "/api/v1/me", token=leaver.token)
    assert refused.value.status == 401


def test_signed_in_viewer_chats_and_a_guest_sees_it(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    _, room = live_room(server, "Spring sneaker drop")
    username, password, display_name = server.register("viewer")

    guest = new_page(viewport=PHONE)
    open_viewer(guest, room["id"])
    expect(guest.locator("#chat-signin-button")).to_be_visible()
    expect(guest.locator("#chat-input")).to_be_hidden()

    viewer = new_page(viewport=PHONE)
    open_viewer(viewer, room["id"])
    viewer.locator("#chat-signin-button").click()
    sign_in_through_sheet(viewer, username, password)
    chat_input = viewer.locator("#chat-input")
    expect(chat_input).to_be_visible()
    expect(chat_input).to_be_enabled()
    assert viewer.evaluate("localStorage.getItem('lc.token')")

    hello = f"Hello from the front row {uuid.uuid4().hex[:6]}"
    chat_input.fill(hello)
    chat_input.press("Enter")
    expect(chat_input).to_have_value("")
    expect(viewer.locator("#chat-log .chat-text", has_text=hello)).to_have_count(1)

    line = guest.locator("#chat-log .chat-line", has_text=hello)
    expect(line).to_have_count(1)
    expect(line.locator(".chat-name")).to_have_text(display_name)

    # Markup in chat is text: shown literally, never turned into elements.
    markup = "<b>x</b>"
    chat_input.fill(markup)
    viewer.locator("#chat-send").click()
    literal = guest.locator("#chat-log .chat-text").filter(has_text=markup)
    expect(literal).to_have_count(1)
    expect(literal).to_have_text(markup)
    expect(guest.locator("#chat-log b")).to_have_count(0)
    expect(viewer.locator("#chat-log b")).to_have_count(0)

    viewer.screenshot(path=str(screenshots / "viewer-390-signed-in.png"))
    guest.screenshot(path=str(screenshots / "viewer-390-guest.png"))


def test_guest_sees_sign_in_prompt_and_the_page_fits_a_phone(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    _, room = live_room(server, "A title long enough to wrap on a narrow phone screen, surely")
    page = new_page(viewport=PHONE)
    open_viewer(page, room["id"])

    prompt = page.locator("#chat-signin-button")
    expect(prompt).to_be_visible()
    expect(prompt).to_have_text(EN["chat.sign_in_to_chat"])
    expect(page.locator("#chat-form")).to_be_hidden()
    expect(page.locator("#heart-button")).to_be_visible()
    expect(page.locator("#product-slot")).to_be_attached()
    expect(page.locator("#video")).to_be_attached()

    overflow = page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - window.innerWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than a 390px phone"

    # The stage clips what sticks out, so also check that the controls lie on the screen, in
    # every language (some translations are long).
    for lang in ("en", "nb", "sv", "nl", "lv"):
        page.locator("#lang-switch").select_option(lang)
        expect(page.locator("html")).to_have_attribute("lang", lang)
        for selector in CONTROLS_ON_PHONE:
            box = page.locator(selector).bounding_box()
            assert box is not None, selector
            assert box["x"] >= 0, f"{selector} starts off screen in {lang}"
            assert box["x"] + box["width"] <= PHONE["width"], f"{selector} sticks out in {lang}"
    page.locator("#lang-switch").select_option("en")

    # The sign-in sheet fits as well.
    prompt.click()
    expect(page.locator("#auth-sheet")).to_be_visible()
    box = page.locator("#auth-sheet").bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= PHONE["width"] + 0.5
    page.screenshot(path=str(screenshots / "viewer-390-sign-in-sheet.png"))
    page.keyboard.press("Escape")
    expect(page.locator("#auth-sheet")).to_be_hidden()
    page.screenshot(path=str(screenshots / "viewer-390.png"))


def test_switching_language_to_norwegian_changes_the_page(
    server: Server, new_page: NewPage
) -> None:
    _, room = live_room(server, "Strikkeshow")
    page = new_page(viewport=PHONE)
    open_viewer(page, room["id"])
    prompt = page.locator("#chat-signin-button")
    expect(prompt).to_have_text(EN["chat.sign_in_to_chat"])

    page.locator("#lang-switch").select_option("nb")
    assert NB["chat.sign_in_to_chat"] != EN["chat.sign_in_to_chat"]
    expect(prompt).to_have_text(NB["chat.sign_in_to_chat"])
    expect(page.locator("#live-badge")).to_have_text(NB["viewer.live"])
    expect(page.locator("html")).to_have_attribute("lang", "nb")

    # The choice is remembered.
    page.reload()
    expect(page.locator("#chat-signin-button")).to_have_text(NB["chat.sign_in_to_chat"])


def test_a_flood_is_refused_with_a_rate_limit_notice_next_to_the_input(
    server: Server, new_page: NewPage
) -> None:
    _, room = live_room(server, "Flood test")
    username, password, _ = server.register("chatty")
    page = new_page(viewport=PHONE)
    open_viewer(page, room["id"])
    page.locator("#chat-signin-button").click()
    sign_in_through_sheet(page, username, password)

    chat_input = page.locator("#chat-input")
    status = page.locator("#chat-status")
    expect(status).to_have_attribute("aria-live", "polite")
    settled = (
        "() => document.querySelector('#chat-input').value === ''"
        " || document.querySelector('#chat-status').textContent !== ''"
    )
    for i in range(20):
        chat_input.fill(f"message {i}")
        chat_input.press("Enter")
        page.wait_for_function(settled)
        if status.text_content():
            break
    notice = EN["error.rate_limited"].split("{", 1)[0].strip()
    expect(status).to_contain_text(notice)
    # What was refused stays in the input, ready to send again.
    expect(chat_input).not_to_have_value("")


def test_the_viewer_page_works_by_keyboard(server: Server, new_page: NewPage) -> None:
    _, room = live_room(server, "Keyboard test")
    page = new_page(viewport=PHONE)
    open_viewer(page, room["id"])

    focused_ids: list[str] = []
    for _ in range(15):
        page.keyboard.press("Tab")
        focused_ids.append(page.evaluate("document.activeElement && document.activeElement.id"))
        if focused_ids[-1] == "chat-signin-button":
            break
    assert "heart-button" in focused_ids, focused_ids
    assert focused_ids[-1] == "chat-signin-button", focused_ids

    page.keyboard.press("Enter")
    expect(page.locator("#auth-sheet")).to_be_visible()
    expect(page.locator("#auth-username")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#auth-sheet")).to_be_hidden()
    expect(page.locator("#chat-signin-button")).to_be_focused()


def test_a_dropped_socket_resumes_where_it_left_off(server: Server, new_page: NewPage) -> None:
    host, room = live_room(server, "Resume test")
    page = new_page(viewport=PHONE)
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    open_viewer(page, room["id"])
    assert len(sockets) == 1
    assert "since=" not in sockets[0]

    # The connection drops with a "reconnect" close code; the page resumes from its last seq
    # and gets what was said in the meantime.
    page.evaluate("window.lcRoomClient.ws.close(4000, 'test drop')")
    expect(page.locator("body")).not_to_have_attribute("data-connection", "joined")
    host_line = f"Said while you were away {uuid.uuid4().hex[:6]}"
    host_page = new_page(viewport=DESKTOP)
    host_page.goto("/")
    host_page.evaluate(
        "([token, user]) => { localStorage.setItem('lc.token', token);"
        " localStorage.setItem('lc.user', JSON.stringify(user)); }",
        [host.token, {"id": host.id, "display_name": host.display_name}],
    )
    host_page.goto(f"/studio#{room['id']}")
    expect(host_page.locator("body")).to_have_attribute("data-connection", "joined")
    host_page.locator("#studio-chat-input").fill(host_line)
    host_page.locator("#studio-chat-input").press("Enter")

    expect(page.locator("#chat-log .chat-line", has_text=host_line)).to_have_count(1)
    expect(page.locator("#connection-status")).to_be_hidden()
    joined(page)
    assert len(sockets) >= 2
    assert "since=" in sockets[-1]
    assert "epoch=" in sockets[-1]


def test_a_sign_in_link_with_a_token_in_the_fragment_signs_in(
    server: Server, new_page: NewPage
) -> None:
    _, room = live_room(server, "Link test")
    user = server.create_user("linked")
    page = new_page(viewport=PHONE)
    page.goto(f"/rooms/{room['id']}#token={user.token}")
    joined(page)
    expect(page.locator("#chat-input")).to_be_visible()
    assert page.evaluate("localStorage.getItem('lc.token')") == user.token
    assert "token" not in page.url


def test_hearts_reach_other_viewers(server: Server, new_page: NewPage) -> None:
    _, room = live_room(server, "Heart test")
    watcher = new_page(viewport=PHONE, reduced_motion="reduce")
    open_viewer(watcher, room["id"])
    fan = new_page(viewport=PHONE)
    open_viewer(fan, room["id"])
    expect(fan.locator("#heart-button")).to_have_accessible_name(EN["viewer.heart"])
    fan.locator("#heart-button").click()
    expect(watcher.locator("#heart-total")).not_to_have_text("")


def test_studio_creates_a_room_goes_live_and_viewers_see_live(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    username, password, _ = server.register("creator")
    studio = new_page(viewport=DESKTOP)
    studio.goto("/studio")
    studio.locator("#gate-signin").click()
    sign_in_through_sheet(studio, username, password)

    title = f"Vintage denim {uuid.uuid4().hex[:4]}"
    studio.get_by_label(EN["studio.create.title"]).fill(title)
    studio.locator("#room-currency").select_option("NOK")
    studio.locator("#room-locale").select_option("nb")
    studio.locator("#create-room").click()

    expect(studio.locator("#panel-title")).to_have_text(title)
    expect(studio.locator("#my-rooms")).to_contain_text(title)
    expect(studio.locator("#panel-state")).to_have_text(EN["room.state.scheduled"])
    expect(studio.locator("#preview")).to_be_visible()

    href = studio.locator("#viewer-link").get_attribute("href")
    assert href
    assert href.startswith("/rooms/")
    expect(studio.locator("#console-link")).to_have_attribute("href", f"{href}/console")

    # A viewer who came early waits for the start...
    early = new_page(viewport=PHONE)
    early.goto(href)
    joined(early)
    expect(early.locator("#room-title")).to_have_text(title)
    expect(early.locator("#room-status")).to_have_text(EN["viewer.status.soon"])
    expect(early.locator("#live-badge")).to_be_hidden()

    studio.locator("#go-live").click()
    expect(studio.locator("#panel-state")).to_have_text(EN["room.state.live"])
    expect(studio.locator("#go-live")).to_be_hidden()
    expect(studio.locator("#end-show")).to_be_visible()

    # ...and sees the show go live without reloading; a newcomer sees it live at once.
    expect(early.locator("#live-badge")).to_be_visible()
    expect(early.locator("#room-status")).to_have_text(EN["viewer.status.live"])
    room = server.api("GET", f"/api/v1/rooms/{href.rsplit('/', 1)[-1]}")
    assert room["state"] == "live"
    assert room["currency"] == "NOK"

    viewer = new_page(viewport=PHONE)
    viewer.goto(href)
    expect(viewer.locator("#live-badge")).to_be_visible()
    expect(viewer.locator("#room-title")).to_have_text(title)
    expect(studio.locator("#panel-viewers")).not_to_have_text(re.compile(r"^0\b"))

    # The host's chat shows what the host writes.
    studio.locator("#studio-chat-input").fill("Welcome, everyone!")
    studio.locator("#studio-chat-input").press("Enter")
    expect(viewer.locator("#chat-log .chat-line", has_text="Welcome, everyone!")).to_have_count(1)
    expect(studio.locator("#studio-chat-log")).to_contain_text("Welcome, everyone!")

    home = new_page(viewport=PHONE)
    home.goto("/")
    expect(home.locator("#live-rooms").get_by_role("link", name=title)).to_be_visible()

    studio.screenshot(path=str(screenshots / "studio-1280.png"))

    # Ending the show: confirmed in a dialog, then viewers see it has ended.
    studio.locator("#end-show").click()
    studio.locator("#confirm-end-button").click()
    expect(studio.locator("#panel-state")).to_have_text(EN["room.state.ended"])
    expect(viewer.locator("#live-badge")).to_be_hidden()
    expect(viewer.locator("#room-status")).to_have_text(EN["viewer.status.ended"])


def in_view(page: Page, line_text: str) -> bool:
    """Whether the chat line with this text lies wholly inside the chat's visible box."""
    log = page.locator("#chat-log").bounding_box()
    line = page.locator("#chat-log .chat-line", has_text=line_text).bounding_box()
    assert log is not None
    assert line is not None
    return line["y"] >= log["y"] - 1 and line["y"] + line["height"] <= log["y"] + log["height"] + 1


def test_the_chat_opens_at_the_newest_line_and_offers_a_pill_when_scrolled_up(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host, room = live_room(server, "Busy chat")
    # As in any show, a product is pinned: its card sits under the chat.
    product = server.api(
        "POST", "/api/v1/products",
        {"sku": f"SKU-{uuid.uuid4().hex[:8]}", "title": "Court sneaker", "price": 24900,
         "currency": "EUR", "stock": 5},
        token=host.token,
    )  # fmt: skip
    on_socket(server, host, room["id"], [{"type": "pin", "product_id": product["id"]}])
    talkers = [server.create_user(f"talker{i}") for i in range(5)]
    said = [
        f"Line {n:02d}: is the leather soft enough for wide feet, and does it run true to size?"
        f" Asking for a friend who orders online a lot. ({uuid.uuid4().hex[:4]})"
        for n in range(15)
    ]
    for i, talker in enumerate(talkers):
        say_in_chat(server, talker, room["id"], said[i * 3 : i * 3 + 3])

    for viewport, name in ((PHONE, "390"), (DESKTOP, "1280")):
        page = new_page(viewport=viewport)
        open_viewer(page, room["id"])
        expect(page.locator("#chat-log .chat-line")).to_have_count(15)
        # The newest line is in view, the oldest scrolled away above it.
        page.wait_for_function(
            "() => { const l = document.getElementById('chat-log');"
            " return l.scrollHeight - l.scrollTop - l.clientHeight < 2; }"
        )
        assert in_view(page, said[-1])
        assert not in_view(page, said[0])
        expect(page.locator("#chat-new")).to_be_hidden()
        page.screenshot(
            path=str(screenshots / f"viewer-{name}-chat-newest.png"), animations="disabled"
        )

    # While the reader follows, a new line shows at once and no pill appears.
    following = f"Following along {uuid.uuid4().hex[:6]}"
    say_in_chat(server, host, room["id"], [following])
    expect(page.locator("#chat-log .chat-line", has_text=following)).to_have_count(1)
    page.wait_for_function(
        "() => { const l = document.getElementById('chat-log');"
        " return l.scrollHeight - l.scrollTop - l.clientHeight < 2; }"
    )
    assert in_view(page, following)
    expect(page.locator("#chat-new")).to_be_hidden()

    # On a phone the reader scrolls up to read back: new lines no longer pull them down,
    # a "New messages" pill says there is more below, and pressing it goes there.
    phone = new_page(viewport=PHONE)
    open_viewer(phone, room["id"])
    log = phone.locator("#chat-log").bounding_box()
    assert log is not None
    phone.mouse.move(log["x"] + log["width"] / 2, log["y"] + log["height"] / 2)
    phone.mouse.wheel(0, -400)
    phone.wait_for_function(
        "() => document.getElementById('chat-log').scrollTop < "
        "document.getElementById('chat-log').scrollHeight"
        " - document.getElementById('chat-log').clientHeight - 100"
    )
    later = f"Said while you read back {uuid.uuid4().hex[:6]}"
    say_in_chat(server, talkers[0], room["id"], [later])
    pill = phone.locator("#chat-new")
    expect(pill).to_be_visible()
    expect(pill).to_have_text(EN["chat.new_messages"])
    assert not in_view(phone, later)
    phone.screenshot(
        path=str(screenshots / "viewer-390-chat-new-messages.png"), animations="disabled"
    )
    pill.click()
    expect(pill).to_be_hidden()
    phone.wait_for_function(
        "() => { const l = document.getElementById('chat-log');"
        " return l.scrollHeight - l.scrollTop - l.clientHeight < 2; }"
    )
    assert in_view(phone, later)
