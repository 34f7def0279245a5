"""Polls and quizzes in a real headless Chromium: the host asks a quiz from the studio, two
viewers (a phone and a laptop) answer with one tap, a reload keeps your vote, and at the end
everyone sees the result, the right answer and the fastest right answers, their own place
highlighted.

Waits are Playwright's auto-waiting `expect` on what the pages show; the quiz runs its shortest
time (10 s), so the server's clock ends it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from .support import (
    DESKTOP,
    PHONE,
    NewPage,
    Server,
    User,
    expect_timeout_ms,
    locale_strings,
    on_socket,
    signed_in,
)

pytestmark = pytest.mark.browser

EN = locale_strings("en")
LV = locale_strings("lv")
SHOTS = Path(os.environ.get("LIVECOMMERCE_POLL_SHOTS", "/tmp/shots-polls"))
QUESTION = "Which yarn keeps you warmest? <b>bold</b>"
OPTIONS = ("Cotton", "Merino wool", "Linen")
QUIZ_SECONDS = 10
END_MS = expect_timeout_ms(QUIZ_SECONDS + 15)


def joined(page: Page) -> None:
    expect(page.locator("body")).to_have_attribute("data-connection", "joined")


def open_page(
    new_page: NewPage, server: Server, path: str, user: User, size: dict[str, int]
) -> Page:
    page = new_page(viewport=size)
    signed_in(page, user)
    page.goto(server.url(path))
    joined(page)
    return page


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), animations="disabled")


def option(page: Page, text: str) -> Locator:
    return page.locator("#poll-options .poll-option", has_text=text)


def test_a_host_asks_a_quiz_two_viewers_answer_and_the_fastest_right_answers_show(
    server: Server, new_page: NewPage
) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Knitting night")
    server.start_room(host, room["id"])
    ada_user, bo_user, cy = (server.create_user(n) for n in ("ada", "bo", "cy"))
    studio = open_page(new_page, server, f"/studio#{room['id']}", host, DESKTOP)
    ada = open_page(new_page, server, f"/rooms/{room['id']}", ada_user, DESKTOP)
    bo = open_page(new_page, server, f"/rooms/{room['id']}", bo_user, PHONE)
    for page in (ada, bo):
        expect(page.locator("#poll-card")).to_be_hidden()

    # The host writes a quiz: a question, three options (one added), the second one right.
    box = studio.locator("#poll-box")
    box.get_by_label(EN["poll.studio.question"]).fill(QUESTION)
    box.get_by_role("button", name=EN["poll.studio.add_option"]).click()
    for n, text in enumerate(OPTIONS, start=1):
        box.get_by_label(EN["poll.studio.option"].format(n=n), exact=True).fill(text)
    box.get_by_label(EN["poll.studio.right_for"].format(n=2)).check()
    box.get_by_label(EN["poll.studio.duration"]).fill(str(QUIZ_SECONDS))
    start = box.locator("#poll-start")
    expect(start).to_have_text(EN["poll.studio.start_quiz"])
    start.click()
    expect(studio.locator("#poll-status")).to_have_text(EN["poll.studio.started"])
    expect(studio.locator("#poll-live-question")).to_have_text(QUESTION)
    expect(studio.locator("#poll-live-bars .poll-bar.right")).to_have_text(f"{OPTIONS[1]}0 · 0%")
    expect(start).to_be_disabled()  # one at a time

    # The viewers see the question as text (the markup is not read), the options as buttons.
    for page in (ada, bo):
        card = page.locator("#poll-card")
        expect(card).to_be_visible()
        expect(page.locator("#poll-question")).to_have_text(QUESTION)
        expect(page.locator("#poll-kind")).to_have_text(EN["poll.kind.quiz"])
        expect(page.locator("#poll-options .poll-option")).to_have_count(3)
        expect(page.locator("#poll-time")).to_have_text(re.compile(r"^0:(0[1-9]|10)$"))
        expect(card).to_have_attribute("data-bars", "hidden")  # no bars before your vote

    # Cy answers right from a phone of their own first; Bo taps the right answer, Ada not.
    poll_id = str(bo.locator("#poll-card").get_attribute("data-poll-id"))
    on_socket(server, cy, room["id"], [{"type": "poll.vote", "poll_id": poll_id, "option": 1}])
    option(bo, OPTIONS[1]).click()
    expect(option(bo, OPTIONS[1])).to_have_attribute("aria-pressed", "true")
    expect(option(bo, OPTIONS[1])).to_contain_text(EN["poll.your_vote"])
    option(ada, OPTIONS[0]).click()
    expect(option(ada, OPTIONS[0])).to_have_attribute("aria-pressed", "true")
    for page in (ada, bo):
        expect(page.locator("#poll-card")).to_have_attribute("data-bars", "shown")
        expect(page.locator("#poll-total")).to_have_text("3 votes")
        expect(option(page, OPTIONS[1])).to_contain_text("67%")
        expect(page.locator("#poll-options .poll-option:disabled")).to_have_count(3)
    expect(studio.locator("#poll-live-total")).to_have_text("3 votes")
    shoot(bo, "poll-viewer-voted-390.png")
    shoot(ada, "poll-viewer-voted-1280.png")
    shoot(studio, "poll-studio-live-1280.png")

    # Bo reloads the page: the vote is still theirs, and cannot be cast again.
    bo.reload()
    joined(bo)
    expect(option(bo, OPTIONS[1])).to_have_attribute("aria-pressed", "true")
    expect(option(bo, OPTIONS[1])).to_be_disabled()

    # Time is up: the result, the right answer, and the fastest right answers.
    for page in (ada, bo):
        expect(page.locator("#poll-card")).to_have_attribute("data-state", "ended", timeout=END_MS)
        expect(option(page, OPTIONS[1])).to_have_class(re.compile(r"\bright\b"))
        expect(option(page, OPTIONS[1])).to_contain_text(EN["poll.right_answer"])
        expect(page.locator("#poll-board-list .poll-board-name")).to_have_text(
            [cy.display_name, EN["poll.board.you"].format(name=bo_user.display_name)]
            if page is bo
            else [cy.display_name, bo_user.display_name]
        )
    expect(bo.locator("#poll-board-list .poll-board-row.me")).to_contain_text(bo_user.display_name)
    expect(bo.locator("#poll-outcome")).to_have_text(EN["poll.outcome.right_place"].format(place=2))
    expect(ada.locator("#poll-outcome")).to_have_text(
        EN["poll.outcome.wrong"].format(answer=OPTIONS[1])
    )
    expect(option(ada, OPTIONS[0])).to_have_class(re.compile(r"\bmine wrong\b"))
    expect(option(bo, OPTIONS[1])).to_have_class(re.compile(r"\bmine right\b"))
    expect(studio.locator("#poll-live-board-list .poll-board-name")).to_have_count(2)
    expect(start).to_be_enabled()
    shoot(bo, "poll-viewer-result-390.png")
    shoot(ada, "poll-viewer-result-1280.png")
    shoot(studio, "poll-studio-result-1280.png")
    studio.set_viewport_size({"width": PHONE["width"], "height": PHONE["height"]})
    studio.locator("#poll-box").screenshot(path=str(SHOTS / "poll-studio-result-390.png"))

    # The viewer closes the result; the results page lists the quiz with its votes.
    bo.locator("#poll-close").click()
    expect(bo.locator("#poll-card")).to_be_hidden()
    polls = server.api("GET", f"/api/v1/rooms/{room['id']}/polls")["polls"]
    assert [(p["question"], p["votes"], p["answer"]) for p in polls] == [(QUESTION, [1, 2, 0], 1)]
    studio.set_viewport_size({"width": DESKTOP["width"], "height": DESKTOP["height"]})
    studio.goto(server.url(f"/studio/results?room={room['id']}"))
    expect(studio.locator("body")).to_have_attribute("data-state", "ready")
    row = studio.locator("#polls-rows tr")
    expect(row).to_have_count(1)
    expect(row.locator(".poll-table-question")).to_have_text(f"{EN['poll.kind.quiz']}: {QUESTION}")
    expect(row.locator("li.right")).to_have_text(f"{OPTIONS[1]} · 67% · {EN['poll.right_answer']}")
    expect(row.locator("td.num")).to_have_text("3")
    expect(studio.locator("#markers")).to_contain_text(
        EN["results.marker.poll_named"].format(title=QUESTION)
    )
    studio.locator("#polls-card").scroll_into_view_if_needed()
    shoot(studio, "poll-results-1280.png")
    studio.set_viewport_size({"width": PHONE["width"], "height": PHONE["height"]})
    studio.locator("#polls-card").scroll_into_view_if_needed()
    shoot(studio, "poll-results-390.png")


def test_a_guest_is_asked_to_sign_in_and_the_host_ends_a_poll_early(
    server: Server, new_page: NewPage
) -> None:
    """The guest reads the page in Latvian: the card speaks their language too."""
    host = server.create_user("host")
    room = server.create_room(host, "Colour vote")
    server.start_room(host, room["id"])
    studio = open_page(new_page, server, f"/studio#{room['id']}", host, DESKTOP)
    guest = new_page(viewport=PHONE, locale="lv-LV")
    guest.goto(server.url(f"/rooms/{room['id']}"))
    joined(guest)

    box = studio.locator("#poll-box")
    box.get_by_label(EN["poll.studio.question"]).fill("Next colour?")
    start = box.locator("#poll-start")
    expect(start).to_have_text(EN["poll.studio.start_poll"])
    start.click()  # the options are empty: said in the studio, nothing sent
    expect(studio.locator("#poll-status")).to_have_text(EN["poll.studio.error.poll_text_invalid"])
    box.get_by_label(EN["poll.studio.option"].format(n=1), exact=True).fill("Rust")
    box.get_by_label(EN["poll.studio.option"].format(n=2), exact=True).fill("Moss")
    box.get_by_label(EN["poll.studio.duration"]).fill("600")
    start.click()
    expect(guest.locator("#poll-kind")).to_have_text(LV["poll.kind.poll"])
    expect(guest.locator("#poll-card")).to_have_attribute("data-bars", "shown")
    expect(guest.locator("#poll-options .poll-option:disabled")).to_have_count(2)
    expect(guest.get_by_role("button", name=LV["poll.sign_in"])).to_be_visible()
    shoot(guest, "poll-guest-lv-390.png")

    studio.locator("#poll-end").click()
    expect(guest.locator("#poll-card")).to_have_attribute("data-state", "ended")
    votes = LV["poll.votes.zero"].format(count=0)
    expect(guest.locator("#poll-outcome")).to_have_text(f"{LV['poll.outcome.final']} · {votes}")
    expect(guest.locator("#poll-board")).to_be_hidden()
    expect(guest.get_by_role("button", name=LV["poll.sign_in"])).to_be_hidden()
    expect(studio.locator("#poll-end")).to_be_hidden()


def test_a_four_option_poll_leaves_the_sale_and_the_chat_in_reach_on_a_phone(
    server: Server, new_page: NewPage
) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Scarf sale")
    server.start_room(host, room["id"])
    product = server.api(
        "POST", "/api/v1/products",
        {"sku": "SCARF-1", "title": "Merino scarf", "price": 4900, "currency": "EUR", "stock": 5},
        token=host.token,
    )  # fmt: skip
    on_socket(
        server, host, room["id"],
        [{"type": "pin", "product_id": product["id"]},
         {"type": "sale.start", "product_id": product["id"], "price": 3900, "units": 5,
          "per_user_limit": 1, "duration_s": 300, "hold_s": 120},
         {"type": "chat.send", "text": "Welcome, everyone!"},
         {"type": "poll.start", "question": "Which colour should the next scarf be?",
          "options": ["Rust red", "Moss green", "Oat", "Midnight blue"], "duration_s": 120}],
    )  # fmt: skip
    viewer = open_page(new_page, server, f"/rooms/{room['id']}", server.create_user("ada"), PHONE)
    expect(viewer.locator("#poll-options .poll-option")).to_have_count(4)
    buy = viewer.locator("#buy-button")
    expect(buy).to_be_visible()
    # The card over the stream covers neither Buy nor the chat's input: a tap reaches them.
    for target in (buy, viewer.locator("#chat-input")):
        box = target.bounding_box()
        assert box is not None
        hit = viewer.evaluate(
            "([x, y]) => document.elementFromPoint(x, y).closest('#poll-card') === null",
            [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
        )
        assert hit, "the poll card covers it"
    option(viewer, "Oat").click()
    expect(option(viewer, "Oat")).to_have_attribute("aria-pressed", "true")
    expect(viewer.locator("#poll-total")).to_have_text("1 vote")  # at once, before any tally
    expect(option(viewer, "Oat")).to_contain_text("100%")
    shoot(viewer, "poll-viewer-with-sale-390.png")
