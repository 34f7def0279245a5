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
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, ViewportSize, expect
from websockets.sync.client import connect

from . import results_fixture
from .support import (
    DESKTOP,
    PHONE,
    NewPage,
    Server,
    User,
    expect_timeout_ms,
    locale_strings,
    say_in_chat,
    scaled,
    signed_in,
)

pytestmark = pytest.mark.browser

EN = locale_strings("en")
LANGUAGES = ("en", "nb", "sv", "nl", "lv")
LOCALES = {"en": "en-US", "nb": "nb-NO", "sv": "sv-SE", "nl": "nl-NL", "lv": "lv-LV"}
SHOTS = Path("/tmp/results-shots")


PAYS = "4242424242424242"
# Chromium logs the API's refusals (403, 409) and an aborted request as console errors.
REFUSALS = (r"status of 403", r"status of 409", r"Failed to load resource", r"ERR_FAILED")


def host_commands(
    server: Server, host: User, room_id: object, commands: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The host's studio sends each command on a socket; the server's reply to each."""
    url = f"{server.ws_url}/ws/rooms/{room_id}?token={host.token}"
    replies: list[dict[str, Any]] = []
    with connect(url, subprotocols=["livecommerce.json"], open_timeout=scaled(10)) as ws:  # type: ignore[list-item]
        for i, command in enumerate(commands):
            ref = f"cmd-{i}"
            ws.send(json.dumps({**command, "ref": ref}))
            reply = None
            while reply is None:
                frame = json.loads(ws.recv(timeout=scaled(10)))
                events = frame if isinstance(frame, list) else [frame]
                reply = next((e for e in events if e.get("ref") == ref), None)
            assert reply["type"] == "ack", reply
            replies.append(reply)
    return replies


def buy(server: Server, buyer: User, sale_id: str) -> dict[str, Any]:
    """`buyer` holds one unit of the sale and pays for it, as the viewer page would."""
    held = server.api(
        "POST", f"/api/v1/sales/{sale_id}/reservations", {"quantity": 1}, token=buyer.token
    )
    address = {"name": "Kari Nordmann", "line1": "Storgata 1", "postal_code": "0155",
               "city": "Oslo", "country": "NO"}  # fmt: skip
    card = {"card_number": PAYS, "exp_month": 12, "exp_year": 2031, "cvc": "123"}
    body = {"address": address, "payment": card}
    request = urllib.request.Request(
        server.url(f"/api/v1/reservations/{held['reservation']['id']}/checkout"),
        data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {buyer.token}",
                 "Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=scaled(10)) as response:
        order: dict[str, Any] = json.loads(response.read())
    return order


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
        followers = page.locator("[data-figure='new_followers']")
        expect(followers).to_contain_text(strings["results.fig.new_followers"])
        expect(followers.locator("dd")).to_have_text("37")
        page.wait_for_function("() => document.querySelector('#chart canvas')")
        assert chart_is_drawn(page)
        # Pointing at minute 5 names what happened in it: the flash sale of the record.
        over = page.locator("#chart .u-over")
        box = over.bounding_box()
        assert box is not None
        over.hover(position={"x": box["width"] * 5.5 / 30, "y": box["height"] / 2})
        sale = strings["results.marker.sale_named"].format(
            title="First pressing, 180 g, numbered sleeve"
        )
        expect(page.locator("#chart-readout")).to_contain_text(sale)
        page.screenshot(path=str(SHOTS / f"results-{lang}-{name}.png"), full_page=True)
        page.locator(".chart-card").screenshot(path=str(SHOTS / f"chart-{lang}-{name}.png"))
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
    answer.update(
        results_fixture.results(str(room["id"]), status="live", minutes=6, last_viewers=61)
    )
    expect(live_card_figure(studio, "viewers_now").locator(".value")).to_have_text(
        "61", timeout=expect_timeout_ms(25)
    )
    expect(live_card_figure(studio, "clicks")).to_have_attribute("data-trend", "down")
    expect(live_card_figure(studio, "clicks")).to_contain_text(EN["studio.results.trend.down"])
    studio.locator("#live-results").screenshot(path=str(SHOTS / "studio-live-results-1280.png"))
    studio.set_viewport_size(ViewportSize(width=PHONE["width"], height=PHONE["height"]))
    studio.locator("#live-results").screenshot(path=str(SHOTS / "studio-live-results-390.png"))
    assert horizontal_overflow(studio) <= 0


def create_product(server: Server, host: User, title: str) -> dict[str, Any]:
    body = {"sku": f"SKU-{uuid.uuid4().hex[:8]}", "title": title, "price": 24900,
            "currency": "EUR", "stock": 5}  # fmt: skip
    product: dict[str, Any] = server.api("POST", "/api/v1/products", body, token=host.token)
    return product


def test_the_host_reads_the_results_of_an_ended_show_and_downloads_them(
    server: Server, new_page: NewPage, tmp_path: Path
) -> None:
    host = server.create_user("host")
    product = create_product(server, host, "Signed first pressing")
    room = server.create_room(host, "Record fair")
    server.start_room(host, str(room["id"]))

    # Kari watches on her phone, chats twice and buys the record on sale.
    kari = server.create_user("kari")
    phone = new_page(viewport=PHONE)
    signed_in(phone, kari)
    phone.goto(f"/rooms/{room['id']}")
    expect(phone.locator("body")).to_have_attribute("data-connection", "joined")
    sale = host_commands(server, host, room["id"], [
        {"type": "pin", "product_id": product["id"]},
        {"type": "sale.start", "product_id": product["id"], "price": 19900, "units": 3,
         "per_user_limit": 1, "duration_s": 300, "hold_s": 120},
    ])[1]["sale"]  # fmt: skip
    phone.get_by_role("button", name=EN["shop.details"]).click()
    phone.get_by_role("dialog", name="Signed first pressing").get_by_role(
        "button", name=EN["common.close"]
    ).click()
    say_in_chat(server, kari, room["id"], ["Hello from Oslo", "That one!"])
    buy(server, kari, str(sale["id"]))

    # The host follows the figures during the show: the page reads them every 10 s, and
    # each process sends what it counted once a second.
    during = new_page(viewport=DESKTOP)
    open_results(during, host, room["id"])
    expect(during.locator("#results-status")).to_have_text(EN["results.status.live"])
    live_counts = {"unique_viewers": "1", "chat_lines": "2", "clicks": "1", "orders": "1"}
    for field, text in live_counts.items():
        expect(during.locator(f"[data-figure='{field}'] dd")).to_have_text(
            text, timeout=expect_timeout_ms(25)
        )

    # The host ends the show; the open page turns final by itself.
    server.api("POST", f"/api/v1/rooms/{room['id']}/end", token=host.token)
    expect(during.locator("#results-status")).to_have_text(
        EN["results.status.final"], timeout=expect_timeout_ms(25)
    )

    # In the studio the ended show has a Results link; the host follows it: final figures,
    # the chart drawn, the record in the table.
    studio = new_page(viewport=DESKTOP)
    signed_in(studio, host)
    studio.goto("/studio")
    expect(studio.locator("#my-rooms .room-results-link")).to_be_visible()
    studio.locator("#my-rooms").screenshot(path=str(SHOTS / "studio-shows-results-link-1280.png"))
    with studio.expect_popup() as opened:
        studio.get_by_role(
            "link", name=EN["studio.results.link_named"].format(title="Record fair")
        ).click()
    page = opened.value
    expect(page).to_have_url(server.url(f"/studio/results?room={room['id']}"))
    expect(page.locator("body")).to_have_attribute("data-state", "ready")
    expect(page.locator("#results-room")).to_have_text("Record fair")
    expect(page.locator("#results-status")).to_have_text(EN["results.status.final"])
    figure = page.locator("#results-body [data-figure]")

    def value(field: str) -> Any:
        return figure.and_(page.locator(f"[data-figure='{field}']")).locator("dd")

    expect(value("unique_viewers")).to_have_text("1")
    expect(value("chat_lines")).to_have_text("2")
    expect(value("orders")).to_have_text("1")
    expect(value("units")).to_have_text("1")
    expect(value("buyers")).to_have_text("1")
    expect(value("gmv")).to_have_text("€199.00")
    expect(value("net_revenue")).to_have_text("€199.00")
    expect(value("aov")).to_have_text("€199.00")
    expect(value("conversion")).to_have_text("100%")
    expect(value("ctr")).to_have_text("50%")  # one click for two impressions
    row = page.locator("#products-rows tr", has_text="Signed first pressing")
    expect(row.locator("td").nth(4)).to_have_text("1")  # orders
    expect(row.locator("td").nth(6)).to_have_text("€199.00")
    page.wait_for_function("() => document.querySelector('#chart canvas')")
    assert chart_is_drawn(page)
    page.locator(".chart-card summary").click()
    markers = page.locator("#markers")
    expect(markers).to_contain_text(
        EN["results.marker.pin_named"].format(title="Signed first pressing")
    )
    expect(markers).to_contain_text(
        EN["results.marker.sale_named"].format(title="Signed first pressing")
    )
    expect(page.locator("#previous-empty")).to_be_visible()
    page.screenshot(path=str(SHOTS / "results-real-1280.png"), full_page=True)

    # Both tables come as CSV files, fetched with the host's token.
    for button, table in (("#csv-products", "products"), ("#csv-timeline", "timeline")):
        with page.expect_download() as download_info:
            page.locator(button).click()
        download = download_info.value
        assert download.suggested_filename == f"record-fair-{table}.csv"
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        lines = saved.read_text(encoding="utf-8").splitlines()
        assert len(lines) >= 2, lines
        if table == "products":
            assert "Signed first pressing" in lines[1]
            assert "19900" in lines[1]


def test_someone_else_is_told_the_results_are_not_theirs(server: Server, new_page: NewPage) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Not for you")
    server.start_room(host, str(room["id"]))
    viewer = server.create_user("viewer")
    page = new_page(viewport=PHONE, expected_console_errors=REFUSALS)
    open_results(page, viewer, room["id"])
    expect(page.locator("body")).to_have_attribute("data-state", "forbidden")
    expect(page.locator("#problem-heading")).to_have_text(EN["results.problem.forbidden.heading"])
    expect(page.locator("#results-body")).to_be_hidden()
    page.screenshot(path=str(SHOTS / "results-forbidden-390.png"))
    assert horizontal_overflow(page) <= 0


def test_a_show_that_never_went_live_has_no_results_yet(server: Server, new_page: NewPage) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Next week")
    page = new_page(viewport=PHONE, expected_console_errors=REFUSALS)
    open_results(page, host, room["id"])
    expect(page.locator("body")).to_have_attribute("data-state", "not_live")
    expect(page.locator("#problem-heading")).to_have_text(EN["results.problem.not_live.heading"])


def test_a_guest_is_asked_to_sign_in_and_then_sees_the_results(
    server: Server, new_page: NewPage
) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Sign in first")
    server.start_room(host, str(room["id"]))
    page = new_page(viewport=PHONE)
    open_results(page, None, room["id"])
    expect(page.locator("body")).to_have_attribute("data-state", "gate")
    page.screenshot(path=str(SHOTS / "results-gate-390.png"))
    page.locator("#gate-signin").click()
    page.locator("#auth-username").fill(host.username)
    page.locator("#auth-password").fill(host.password)
    page.locator("#auth-submit").click()
    expect(page.locator("body")).to_have_attribute("data-state", "ready")
    expect(page.locator("#results-status")).to_have_text(EN["results.status.live"])


def test_a_network_failure_is_said_and_can_be_retried(server: Server, new_page: NewPage) -> None:
    host = server.create_user("host")
    page = new_page(viewport=PHONE, expected_console_errors=REFUSALS)
    failing = {"on": True}

    def flaky(route: Route) -> None:
        if failing["on"]:
            route.abort("internetdisconnected")
        else:
            route.fulfill(status=200, content_type="application/json",
                          body=json.dumps(results_fixture.results("r_fixture")))  # fmt: skip

    page.route("**/api/v1/rooms/*/results", flaky)
    open_results(page, host, "r_fixture")
    expect(page.locator("body")).to_have_attribute("data-state", "error")
    expect(page.locator("#problem-text")).to_have_text(EN["error.network"])
    failing["on"] = False
    page.locator("#problem-retry").click()
    expect(page.locator("body")).to_have_attribute("data-state", "ready")


def test_the_results_of_a_live_show_read_again_until_it_is_final(
    server: Server, new_page: NewPage
) -> None:
    host = server.create_user("host")
    answer = results_fixture.results("r_live", status="live", minutes=8)
    page = new_page(viewport=PHONE, expected_console_errors=REFUSALS)
    network = {"up": True}

    def fulfil(route: Route) -> None:
        if not network["up"]:
            route.abort("internetdisconnected")
            return
        route.fulfill(status=200, content_type="application/json", body=json.dumps(answer))

    page.route("**/api/v1/rooms/*/results", fulfil)
    open_results(page, host, "r_live")
    expect(page.locator("#results-status")).to_have_text(EN["results.status.live"])
    expect(page.locator("#results-status")).to_have_class("state-badge live")
    unique = page.locator("#figures-audience [data-figure='unique_viewers'] dd")
    expect(unique).to_have_text("412")

    # The network drops for a while: the figures stay, and the page says it will try again.
    network["up"] = False
    expect(page.locator("#results-updated")).to_have_text(
        EN["results.refresh_failed"], timeout=expect_timeout_ms(25)
    )
    expect(unique).to_have_text("412")
    network["up"] = True

    # The show goes on, then ends: the page follows by itself, with no reload.
    final = results_fixture.results("r_live", status="final", minutes=9)
    final["summary"]["unique_viewers"] = 450
    answer.clear()
    answer.update(final)
    expect(unique).to_have_text("450", timeout=expect_timeout_ms(25))
    expect(page.locator("#results-status")).to_have_text(EN["results.status.final"])
    expect(page.locator("#results-updated")).to_have_text("")

    # Read in Norwegian instead: the figures and the chart's axes follow at once.
    page.locator("#lang-switch").select_option("nb")
    nb = locale_strings("nb")
    expect(page.locator("h1")).to_have_text(nb["results.heading"])
    expect(page.locator("#results-status")).to_have_text(nb["results.status.final"])
    expect(page.locator("#figures-commerce [data-figure='gmv'] dt")).to_have_text(
        nb["results.fig.gmv"]
    )
    expect(page.locator("#chart canvas")).to_have_count(1)
    assert chart_is_drawn(page)


def test_the_studio_card_counts_the_chat_of_a_live_show(server: Server, new_page: NewPage) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Chatty show")
    server.start_room(host, str(room["id"]))
    studio = new_page(viewport=PHONE)
    signed_in(studio, host)
    studio.goto(f"/studio#{room['id']}")
    chat_lines = live_card_figure(studio, "chat_lines").locator(".value")
    expect(chat_lines).to_have_text("0")

    # Two viewers say hello; the card reads the server's count again within its 10 s.
    for name in ("kari", "ola"):
        say_in_chat(server, server.create_user(name), room["id"], [f"Hei fra {name}"])
    expect(chat_lines).to_have_text("2", timeout=expect_timeout_ms(25))
    studio.screenshot(path=str(SHOTS / "studio-live-390.png"))
    assert horizontal_overflow(studio) <= 0
    expect(studio.locator("#live-results-link")).to_have_attribute(
        "href", f"/studio/results?room={room['id']}"
    )

    # Once the show has ended the card goes, and the show's heading links to its results.
    server.api("POST", f"/api/v1/rooms/{room['id']}/end", token=host.token)
    expect(studio.locator("#live-results")).to_be_hidden()
    expect(studio.locator("#results-link")).to_have_attribute(
        "href", f"/studio/results?room={room['id']}"
    )
