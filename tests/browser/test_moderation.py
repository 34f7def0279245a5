"""Moderation in a real headless Chromium against a real server: the moderator console and
what viewers see of it.

Each test reads as a story: a host appoints a moderator through the API (the host's own
pages are not what these stories are about), then people act through the pages.
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, ViewportSize, expect

from .support import DESKTOP, PHONE, ApiFailure, NewPage, Server, User, locale_strings, scaled

pytestmark = pytest.mark.browser

EN = locale_strings("en")
# Chromium logs every 4xx answer to fetch as a console error; a refused console asks for
# the room's moderation state and gets 403.
REFUSED_FETCH = (r"status of 403",)


def fill(key: str, **args: object) -> str:
    """An English string with its placeholders filled, as the page shows it."""
    return re.sub(r"\{(\w+)\}", lambda m: str(args[m.group(1)]), EN[key])


def before_placeholder(key: str) -> str:
    return EN[key].split("{", 1)[0].strip()


def resize(page: Page, size: dict[str, int]) -> None:
    page.set_viewport_size(ViewportSize(width=size["width"], height=size["height"]))


def live_room(server: Server, title: str, **fields: Any) -> tuple[User, str]:
    host = server.create_user("host")
    room = server.api(
        "POST",
        "/api/v1/rooms",
        {"title": title, "currency": "EUR", "locale": "en", **fields},
        token=host.token,
    )
    server.start_room(host, str(room["id"]))
    return host, str(room["id"])


def appoint(server: Server, host: User, room_id: str, person: User) -> None:
    server.api("PUT", f"/api/v1/rooms/{room_id}/moderators/{person.id}", token=host.token)


def joined(page: Page) -> None:
    expect(page.locator("body")).to_have_attribute("data-connection", "joined")


def open_viewer(new_page: NewPage, room_id: str, person: User | None = None, **opts: Any) -> Page:
    """The viewer page, signed in through a `#token=` link when a person is given."""
    opts.setdefault("viewport", PHONE)
    page = new_page(**opts)
    page.goto(f"/rooms/{room_id}" + (f"#token={person.token}" if person else ""))
    joined(page)
    return page


def open_console(new_page: NewPage, room_id: str, moderator: User, **opts: Any) -> Page:
    opts.setdefault("viewport", DESKTOP)
    page = new_page(**opts)
    page.goto(f"/rooms/{room_id}/console#token={moderator.token}")
    expect(page.locator("#workspace")).to_be_visible()
    joined(page)
    return page


def say(page: Page, text: str) -> None:
    chat_input = page.locator("#chat-input")
    chat_input.fill(text)
    chat_input.press("Enter")
    expect(chat_input).to_have_value("")


def try_to_say(page: Page, text: str) -> None:
    """Sends a line that the server is expected to refuse: it stays in the input."""
    chat_input = page.locator("#chat-input")
    chat_input.fill(text)
    page.locator("#chat-send").click()


def buy_and_hold(server: Server, host: User, room_id: str, buyer: User) -> dict[str, Any]:
    """The buyer pays for one unit of a flash sale and holds another; returns the sale."""
    product = server.api(
        "POST",
        "/api/v1/products",
        {"sku": f"SKU-{uuid.uuid4().hex[:8]}", "title": "Merino beanie", "price": 1900,
         "currency": "EUR", "stock": 10},
        token=host.token,
    )  # fmt: skip
    sale: dict[str, Any] = server.api(
        "POST",
        f"/api/v1/rooms/{room_id}/sales",
        {"product_id": product["id"], "price": 1500, "units": 5, "per_user_limit": 2,
         "duration_s": 600, "hold_s": 600},
        token=host.token,
    )  # fmt: skip
    paid = server.api(
        "POST", f"/api/v1/sales/{sale['id']}/reservations", {"quantity": 1}, token=buyer.token
    )
    body = {
        "address": {"name": "Kari Nordmann", "line1": "Storgata 1", "postal_code": "0155",
                    "city": "Oslo", "country": "NO"},
        "payment": {"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2031,
                    "cvc": "123"},
    }  # fmt: skip
    # Checkout needs an Idempotency-Key header, which Server.api does not send.
    request = urllib.request.Request(
        server.url(f"/api/v1/reservations/{paid['reservation']['id']}/checkout"),
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {buyer.token}",
            "Idempotency-Key": uuid.uuid4().hex,
        },
    )
    with urllib.request.urlopen(request, timeout=scaled(10)) as response:
        assert response.status == 201
    server.api(
        "POST", f"/api/v1/sales/{sale['id']}/reservations", {"quantity": 1}, token=buyer.token
    )
    return sale


def console_line(console: Page, text: str) -> Locator:
    return console.locator("#mod-chat .mod-line", has_text=text)


def viewer_line(page: Page, text: str) -> Locator:
    return page.locator("#chat-log .chat-line", has_text=text)


def test_a_moderator_deletes_a_message_and_bans_its_author(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host, room_id = live_room(server, "Sneaker drop, moderated")
    mod = server.create_user("mod")
    appoint(server, host, room_id, mod)
    author = server.create_user("author")
    onlooker = server.create_user("onlooker")

    console = open_console(new_page, room_id, mod)
    author_page = open_viewer(new_page, room_id, author)
    other = open_viewer(new_page, room_id, onlooker, viewport=DESKTOP)

    harmless = f"Nice colours {uuid.uuid4().hex[:6]}"
    offending = f"Buy followers at spam.example {uuid.uuid4().hex[:6]}"
    say(author_page, harmless)
    say(author_page, offending)
    expect(viewer_line(other, offending)).to_have_count(1)
    line = console_line(console, offending)
    expect(line).to_have_count(1)
    expect(line.locator(".mod-author")).to_have_text(author.display_name)

    # One click deletes the line: it vanishes from every open viewer page.
    line.get_by_role("button", name=EN["console.action.delete"], exact=True).click()
    expect(viewer_line(other, offending)).to_have_count(0)
    expect(viewer_line(author_page, offending)).to_have_count(0)
    expect(viewer_line(other, harmless)).to_have_count(1)
    expect(console.locator("#toast-text")).to_have_text(EN["console.done.delete"])
    removed = console.locator("#mod-chat .mod-line.deleted")
    expect(removed).to_have_text(re.compile(re.escape(EN["chat.deleted"])))

    # The author's name opens the user panel: their messages here, their standing, and Ban.
    removed.locator(".mod-author").click()
    panel = console.locator("#person-sheet")
    expect(panel).to_be_visible()
    expect(panel.locator("#person-name")).to_have_text(author.display_name)
    expect(panel.locator("#person-standing")).to_have_text(EN["console.person.ok"])
    expect(panel.locator("#person-messages")).to_contain_text(harmless)
    expect(panel.locator("#person-messages")).not_to_contain_text(offending)
    expect(panel.locator("#person-orders-empty")).to_be_visible()
    panel.get_by_role("button", name=EN["console.action.ban"], exact=True).click()
    expect(panel.locator("#person-standing")).to_have_text(EN["console.person.banned"])
    expect(panel.get_by_role("button", name=EN["console.action.unban"])).to_be_visible()
    console.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(console_line(console, harmless).locator(".mod-badge.banned")).to_be_visible()

    # The author is told, and their next message is refused by the server.
    expect(author_page.locator("#chat-status")).to_have_text(EN["viewer.moderated.ban"])
    try_to_say(author_page, "Why was that removed?")
    expect(author_page.locator("#chat-status")).to_have_text(EN["error.banned"])
    expect(author_page.locator("#chat-input")).to_have_value("Why was that removed?")

    # The audit log has both, newest first: who did what to whom, and when.
    audit = console.locator("#audit-list .audit-entry")
    banned = fill("console.audit.ban", actor=mod.display_name, target=author.display_name)
    deleted = fill("console.audit.delete", actor=mod.display_name, target=author.display_name)
    expect(audit.nth(0).locator(".audit-what")).to_have_text(banned)
    expect(audit.nth(1).locator(".audit-what")).to_have_text(deleted)
    expect(audit.nth(1).locator(".audit-quote")).to_have_text(offending)
    expect(audit.nth(0).locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-"))

    console.locator("#main").evaluate("el => window.scrollTo(0, 0)")
    console.screenshot(path=str(screenshots / "console-1280.png"))
    resize(console, PHONE)
    console.screenshot(path=str(screenshots / "console-390.png"))
    console.locator("#audit-section").scroll_into_view_if_needed()
    console.screenshot(path=str(screenshots / "console-390-audit.png"))
    author_page.screenshot(path=str(screenshots / "viewer-390-banned.png"))
    other.screenshot(path=str(screenshots / "viewer-1280-after-delete.png"))
    overflow = console.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the console is {overflow}px wider than a 390px phone"


def test_a_viewer_reports_a_line_and_it_is_in_the_queue_at_once(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host, room_id = live_room(server, "Report test")
    mod = server.create_user("mod")
    appoint(server, host, room_id, mod)
    troll = server.create_user("troll")
    reporter = server.create_user("reporter")

    console = open_console(new_page, room_id, mod)
    expect(console.locator("#reports-empty")).to_be_visible()
    troll_page = open_viewer(new_page, room_id, troll)
    page = open_viewer(new_page, room_id, reporter)

    nasty = f"You are all idiots {uuid.uuid4().hex[:6]}"
    mine = f"Love the show {uuid.uuid4().hex[:6]}"
    say(troll_page, nasty)
    say(page, mine)
    expect(viewer_line(page, mine)).to_have_count(1)
    # Nobody reports their own line; other people's lines have a report button.
    expect(viewer_line(page, mine).locator(".chat-report")).to_be_hidden()
    report = viewer_line(page, nasty).get_by_role(
        "button", name=fill("report.action_named", name=troll.display_name)
    )
    report.click()
    sheet = page.locator("#report-sheet")
    expect(sheet).to_be_visible()
    expect(sheet.locator("#report-quote")).to_contain_text(nasty)
    # Sending without a reason asks for one.
    sheet.get_by_role("button", name=EN["report.submit"]).click()
    expect(sheet.locator("#report-error")).to_have_text(EN["report.choose"])
    sheet.get_by_label(EN["report.reason.harassment"]).check()
    sheet.get_by_label(EN["report.note"]).fill("Insults everyone in the chat")
    page.screenshot(path=str(screenshots / "viewer-390-report.png"))
    sheet.get_by_role("button", name=EN["report.submit"]).click()
    expect(sheet).to_be_hidden()
    expect(page.locator("#chat-status")).to_have_text(EN["report.sent"])
    expect(report).to_be_focused()

    card = console.locator("#report-list .report-card")
    expect(card).to_have_count(1)
    expect(card.locator(".reason-badge")).to_have_text(EN["report.reason.harassment"])
    expect(card.locator(".report-line")).to_contain_text(troll.display_name)
    expect(card.locator(".report-line")).to_contain_text(nasty)
    expect(card.locator(".report-by")).to_have_text(
        fill("console.reports.by", name=reporter.display_name)
    )
    expect(card.locator(".report-note")).to_have_text(
        fill("console.reports.note", note="Insults everyone in the chat")
    )
    expect(console.locator("#report-count")).to_have_text("1 open")

    # A console opened later loads the queue from the server.
    late = open_console(new_page, room_id, mod)
    expect(late.locator("#report-list .report-card")).to_contain_text(nasty)

    # From the report: delete the line, then resolve; the queue empties and the log says so.
    card.get_by_role("button", name=EN["console.action.delete_line"]).click()
    expect(viewer_line(page, nasty)).to_have_count(0)
    expect(card.locator(".report-flag")).to_have_text(EN["console.reports.line_deleted"])
    console.screenshot(path=str(screenshots / "console-1280-report.png"))
    card.get_by_role("button", name=EN["console.action.resolve"]).click()
    expect(card).to_have_count(0)
    expect(console.locator("#reports-empty")).to_be_visible()
    expect(console.locator("#audit-list .audit-entry").first).to_have_text(
        re.compile(
            re.escape(
                fill(
                    "console.audit.resolve",
                    actor=mod.display_name,
                    reason=EN["report.reason.harassment"],
                )
            )
        )
    )


def test_someone_who_does_not_moderate_the_room_sees_so_in_the_console(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    _, room_id = live_room(server, "Not yours")
    viewer = server.create_user("viewer")

    page = new_page(viewport=PHONE, expected_console_errors=REFUSED_FETCH)
    page.goto(f"/rooms/{room_id}/console#token={viewer.token}")
    gate = page.locator("#gate")
    expect(gate).to_be_visible()
    expect(page.locator("#gate-heading")).to_have_text(EN["console.gate.forbidden_heading"])
    expect(page.locator("#gate-text")).to_have_text(EN["console.gate.forbidden_text"])
    expect(page.locator("#workspace")).to_be_hidden()
    expect(page.locator(".mod-actions button:visible")).to_have_count(0)
    watch = gate.get_by_role("link", name=EN["console.gate.watch"])
    expect(watch).to_have_attribute("href", f"/rooms/{room_id}")
    page.screenshot(path=str(screenshots / "console-390-not-a-moderator.png"))

    # Without signing in, the console asks for it.
    guest = new_page(viewport=PHONE)
    guest.goto(f"/rooms/{room_id}/console")
    expect(guest.locator("#gate-heading")).to_have_text(EN["console.gate.signin_heading"])
    expect(guest.get_by_role("button", name=EN["auth.sign_in"]).first).to_be_visible()


def test_a_moderator_removed_by_the_host_loses_the_console_at_once(
    server: Server, new_page: NewPage
) -> None:
    host, room_id = live_room(server, "Short-lived moderator")
    mod = server.create_user("mod")
    appoint(server, host, room_id, mod)
    console = open_console(new_page, room_id, mod, expected_console_errors=REFUSED_FETCH)
    expect(console.locator("#gate")).to_be_hidden()

    server.api("DELETE", f"/api/v1/rooms/{room_id}/moderators/{mod.id}", token=host.token)
    expect(console.locator("#gate-heading")).to_have_text(EN["console.gate.forbidden_heading"])
    expect(console.locator("#gate-text")).to_have_text(EN["console.gate.removed_text"])
    expect(console.locator("#workspace")).to_be_hidden()

    # Appointed again, the console comes back by itself.
    appoint(server, host, room_id, mod)
    expect(console.locator("#workspace")).to_be_visible()


def test_the_tools_reach_the_viewers(server: Server, new_page: NewPage, screenshots: Path) -> None:
    host, room_id = live_room(server, "Tools test")
    mod = server.create_user("mod")
    appoint(server, host, room_id, mod)
    fan = server.create_user("fan")
    console = open_console(new_page, room_id, mod)
    page = open_viewer(new_page, room_id, fan)
    status = page.locator("#chat-status")

    # The server refuses an entry it could never match, and the console says which one.
    words = console.get_by_label(EN["console.words.label"])
    words.fill("cheapfollowers\n!!!")
    console.get_by_role("button", name=EN["console.words.save"]).click()
    expect(console.locator("#words-error")).to_have_text(
        fill("console.words.error.entry", word="!!!")
    )
    expect(words).to_have_attribute("aria-invalid", "true")
    expect(words).to_be_focused()

    # A blocked word: the line is refused and stays in the input to be reworded.
    words.fill("cheapfollowers\nfree money")
    expect(console.locator("#words-error")).to_be_empty()
    console.get_by_role("button", name=EN["console.words.save"]).click()
    expect(console.locator("#toast-text")).to_have_text("Saved 2 blocked words.")
    try_to_say(page, "get FREE   Money here")
    expect(status).to_have_text(EN["error.blocked_word"])
    expect(page.locator("#chat-input")).to_have_value("get FREE   Money here")

    # A pinned line shows above the chat, until it is unpinned.
    question = f"Which sizes are left? {uuid.uuid4().hex[:6]}"
    say(page, question)
    console_line(console, question).get_by_role("button", name=EN["console.action.pin"]).click()
    pinned = page.locator("#pinned-chat")
    expect(pinned).to_be_visible()
    expect(pinned).to_contain_text(question)
    expect(pinned).to_contain_text(fan.display_name)
    expect(console.locator("#console-pinned")).to_contain_text(question)
    late = open_viewer(new_page, room_id)
    expect(late.locator("#pinned-chat")).to_contain_text(question)

    # Slow mode: every viewer sees it, and a second line too soon is refused with the wait.
    console.get_by_label(EN["console.slow.label"]).select_option("30")
    console.get_by_role("button", name=EN["console.slow.apply"]).click()
    expect(page.locator("#slow-notice")).to_have_text(
        fill("viewer.slow_mode", duration="30 seconds")
    )
    expect(console.locator("#slow-current")).to_have_text(
        fill("console.slow.current_on", duration="30 seconds")
    )
    say(page, "First under slow mode")
    try_to_say(page, "Second under slow mode")
    expect(status).to_contain_text(before_placeholder("error.slow_mode"))
    page.screenshot(path=str(screenshots / "viewer-390-pinned-slow.png"))
    resize(page, DESKTOP)
    page.screenshot(path=str(screenshots / "viewer-1280-pinned-slow.png"))
    resize(page, PHONE)
    console.get_by_label(EN["console.slow.label"]).select_option("0")
    console.get_by_role("button", name=EN["console.slow.apply"]).click()
    expect(page.locator("#slow-notice")).to_be_hidden()

    # A time-out, chosen by keyboard from the line's menu: the viewer is told until when,
    # and their next line is refused until then.
    line = console_line(console, question)
    line.locator("summary").focus()
    console.keyboard.press("Enter")
    ten_minutes = line.get_by_role("button", name="Time out for 10 minutes")
    expect(ten_minutes).to_be_visible()
    ten_minutes.focus()
    console.keyboard.press("Enter")
    expect(line.locator(".mod-badge.timed-out")).to_be_visible()
    expect(status).to_contain_text(before_placeholder("viewer.moderated.timeout"))
    until = status.text_content() or ""
    try_to_say(page, "Hello?")
    expect(status).to_contain_text(before_placeholder("error.muted_until"))
    assert until.rsplit(" ", 2)[-2:] == (status.text_content() or "").rsplit(" ", 2)[-2:]

    # Unpinned, the line leaves the viewers' screens.
    console.get_by_role("button", name=EN["console.action.unpin"], exact=True).click()
    expect(pinned).to_be_hidden()
    entries = console.locator("#audit-list .audit-what")
    expect(entries.first).to_have_text(fill("console.audit.unpin_chat", actor=mod.display_name))
    expect(entries.nth(1)).to_have_text(
        fill(
            "console.audit.timeout",
            actor=mod.display_name,
            target=fan.display_name,
            duration="10 minutes",
        )
    )


def test_a_moderator_lifts_a_time_out_and_the_viewer_chats_again(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host, room_id = live_room(server, "Lifting a time-out")
    mod = server.create_user("mod")
    appoint(server, host, room_id, mod)
    fan = server.create_user("fan")
    console = open_console(new_page, room_id, mod)
    page = open_viewer(new_page, room_id, fan)
    status = page.locator("#chat-status")
    heated = f"This is a scam!!! {uuid.uuid4().hex[:6]}"
    say(page, heated)

    # Timed out from the line, the fan's tools are Lift the time-out and Ban; Unban is for
    # the banned.
    line = console_line(console, heated)
    line.locator("summary").click()
    line.get_by_role("button", name="Time out for 10 minutes").click()
    expect(line.locator(".mod-badge.timed-out")).to_be_visible()
    lift = line.get_by_role("button", name=EN["console.action.lift_timeout"], exact=True)
    expect(lift).to_be_visible()
    expect(line.get_by_role("button", name=EN["console.action.ban"], exact=True)).to_be_visible()
    expect(line.get_by_role("button", name=EN["console.action.unban"], exact=True)).to_be_hidden()
    expect(status).to_contain_text(before_placeholder("viewer.moderated.timeout"))
    console.screenshot(path=str(screenshots / "console-1280-timed-out.png"))
    resize(console, PHONE)
    line.scroll_into_view_if_needed()
    console.screenshot(path=str(screenshots / "console-390-timed-out.png"))
    resize(console, DESKTOP)

    # Lifted: the badge and the button go, the fan is told and may chat at once.
    lift.click()
    expect(console.locator("#toast-text")).to_have_text(
        fill("console.done.untimeout", name=fan.display_name)
    )
    expect(line.locator(".mod-badge.timed-out")).to_have_count(0)
    expect(lift).to_be_hidden()
    expect(status).to_have_text(EN["viewer.moderated.untimeout"])
    calm = f"Sorry, I was wrong {uuid.uuid4().hex[:6]}"
    say(page, calm)
    expect(console_line(console, calm)).to_have_count(1)
    expect(console.locator("#audit-list .audit-what").first).to_have_text(
        fill("console.audit.untimeout", actor=mod.display_name, target=fan.display_name)
    )
    page.screenshot(path=str(screenshots / "viewer-390-time-out-lifted.png"))

    # The user panel offers the same: time out again there, lift it there.
    console_line(console, calm).locator(".mod-author").click()
    panel = console.locator("#person-sheet")
    panel.get_by_role("button", name="Time out for 10 minutes").click()
    expect(panel.locator("#person-standing")).to_contain_text(
        before_placeholder("console.person.timed_out")
    )
    expect(panel.get_by_role("button", name=EN["console.action.unban"])).to_be_hidden()
    console.screenshot(path=str(screenshots / "console-1280-person-timed-out.png"))
    panel.get_by_role("button", name=EN["console.action.lift_timeout"]).click()
    expect(panel.locator("#person-standing")).to_have_text(EN["console.person.ok"])
    expect(console.locator("#audit-list .audit-what").first).to_have_text(
        fill("console.audit.untimeout", actor=mod.display_name, target=fan.display_name)
    )


def test_the_user_panel_shows_a_buyers_messages_holds_and_orders(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host, room_id = live_room(server, "Beanie drop")
    mod = server.create_user("mod")
    appoint(server, host, room_id, mod)
    buyer = server.create_user("buyer")
    buy_and_hold(server, host, room_id, buyer)
    console = open_console(new_page, room_id, mod, viewport=PHONE)
    page = open_viewer(new_page, room_id, buyer)
    thanks = f"Just bought one! {uuid.uuid4().hex[:6]}"
    say(page, thanks)

    console_line(console, thanks).get_by_role("button", name=buyer.display_name).click()
    panel = console.locator("#person-sheet")
    expect(panel.locator("#person-messages")).to_contain_text(thanks)
    holds = panel.locator("#person-holds li")
    expect(holds).to_have_count(1)
    expect(holds).to_contain_text(fill("shop.checkout.item", quantity=1, title="Merino beanie"))
    expect(holds).to_contain_text(before_placeholder("console.person.held_until"))
    orders = panel.locator("#person-orders li")
    expect(orders).to_have_count(1)
    expect(orders).to_contain_text(fill("shop.checkout.item", quantity=1, title="Merino beanie"))
    expect(orders).to_contain_text("€15.00")
    expect(orders).to_contain_text(EN["console.order.paid"])
    expect(panel.locator("#person-close")).to_be_focused()
    console.screenshot(path=str(screenshots / "console-390-person.png"))

    # A time-out from the panel, then lifted again: the standing follows each step.
    panel.get_by_role("button", name="Time out for 1 hour").click()
    expect(panel.locator("#person-standing")).to_contain_text(
        before_placeholder("console.person.timed_out")
    )
    panel.get_by_role("button", name=EN["console.action.lift_timeout"]).click()
    expect(panel.locator("#person-standing")).to_have_text(EN["console.person.ok"])
    expect(page.locator("#chat-status")).to_have_text(EN["viewer.moderated.untimeout"])
    panel.get_by_role("button", name=EN["common.close"]).click()
    expect(panel).to_be_hidden()


def test_a_moderators_refund_is_refused_and_the_hosts_console_says_who_tried(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host, room_id = live_room(server, "Beanie drop")
    mod = server.create_user("mod")
    appoint(server, host, room_id, mod)
    buy_and_hold(server, host, room_id, mod)  # the moderator buys one for themselves
    order = server.api("GET", "/api/v1/orders", token=mod.token)["orders"][0]
    console = open_console(new_page, room_id, host)
    with pytest.raises(ApiFailure) as refused:
        server.api("POST", f"/api/v1/orders/{order['id']}/refund", token=mod.token)
    assert (refused.value.status, refused.value.body["code"]) == (403, "forbidden")

    # The host's open console shows the attempt at once.
    entry = console.locator("#audit-list .audit-entry").first
    tried = fill("console.audit.refund_refused", actor=mod.display_name)
    expect(entry.locator(".audit-what")).to_have_text(tried)
    console.locator("#audit-section").scroll_into_view_if_needed()
    console.screenshot(path=str(screenshots / "console-1280-refund-refused.png"))


def test_the_paid_partnership_label_shows_at_the_top(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host, room_id = live_room(server, "Sponsored knitwear", paid_partnership=True)
    page = open_viewer(new_page, room_id)
    label = page.locator("#paid-label")
    expect(label).to_be_visible()
    expect(label).to_have_text(EN["viewer.paid_partnership"])
    # At the top, on the screen, clear of the controls, in every language.
    for lang in ("en", "nb", "sv", "nl", "lv"):
        page.locator("#lang-switch").select_option(lang)
        expect(page.locator("html")).to_have_attribute("lang", lang)
        box = label.bounding_box()
        account = page.locator("#account-button").bounding_box()
        assert box is not None
        assert account is not None
        assert box["y"] < 120, f"the label is not at the top in {lang}"
        assert box["x"] >= 0, lang
        assert box["x"] + box["width"] <= PHONE["width"], lang
        assert account["x"] + account["width"] <= PHONE["width"], lang
    page.locator("#lang-switch").select_option("en")
    page.screenshot(path=str(screenshots / "viewer-390-paid.png"))

    # The host changes it during the show: open pages follow at once.
    server.api("PATCH", f"/api/v1/rooms/{room_id}", {"paid_partnership": False}, token=host.token)
    expect(label).to_be_hidden()
    server.api("PATCH", f"/api/v1/rooms/{room_id}", {"paid_partnership": True}, token=host.token)
    expect(label).to_be_visible()

    _, plain_room = live_room(server, "Not sponsored")
    plain = open_viewer(new_page, plain_room)
    expect(plain.locator("#paid-label")).to_be_hidden()
