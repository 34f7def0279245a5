"""Live auctions in a real headless Chromium: the host runs lots from the studio's run sheet,
viewers bid with one tap or a secret max, the winner pays for the lot, the studio sees the paid
order, and the replay shows each lot's hammer price.

Each test reads as a person's story; waits are Playwright's auto-waiting `expect` on what the
pages show, with lots of five seconds so the server's clock ends them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect
from websockets.sync.client import connect

from .conftest import running_server
from .support import (
    DESKTOP,
    PHONE,
    NewPage,
    Server,
    User,
    expect_timeout_ms,
    locale_strings,
    on_socket,
    scaled,
    signed_in,
)

pytestmark = pytest.mark.browser

EN = locale_strings("en")
IMAGE_HOST = "https://images.example.test"
PICTURE = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="160" height="160" viewBox="0 0 160 160">'
    b'<rect width="160" height="160" fill="#f4e9c9"/>'
    b'<rect x="40" y="20" width="80" height="120" rx="8" fill="#e63946"/>'
    b'<circle cx="80" cy="80" r="24" fill="#f1faee"/>'
    b"</svg>"
)
PAYS = "4242424242424242"
DECLINED = "4000000000000002"
LOT_SECONDS = 5
# A lot the story bids on opens for long enough that the first tap lands on a loaded machine;
# every bid then holds it open for its extend_s (10 s) more.
BID_LOT_SECONDS = 15
# Waiting for a hammer: the whole lot, a late bid's extension, and the usual margin on top.
HAMMER_MS = expect_timeout_ms(BID_LOT_SECONDS + 10 + 10)


def serve_pictures(page: Page) -> None:
    def fulfil(route: Route) -> None:
        route.fulfill(status=200, content_type="image/svg+xml", body=PICTURE)

    page.route(f"{IMAGE_HOST}/**", fulfil)


def joined(page: Page) -> None:
    expect(page.locator("body")).to_have_attribute("data-connection", "joined")


def create_product(server: Server, host: User, title: str) -> dict[str, Any]:
    body = {
        "sku": f"LOT-{uuid.uuid4().hex[:8]}",
        "title": title,
        "price": 4900,
        "currency": "EUR",
        "stock": 1,
        "image_url": f"{IMAGE_HOST}/{uuid.uuid4().hex[:6]}.svg",
    }
    product: dict[str, Any] = server.api("POST", "/api/v1/products", body, token=host.token)
    return product


def open_studio(new_page: NewPage, server: Server, host: User, room_id: object) -> Page:
    studio = new_page(viewport=DESKTOP)
    serve_pictures(studio)
    signed_in(studio, host)
    studio.goto(server.url(f"/studio#{room_id}"))
    joined(studio)
    return studio


def open_viewer(
    new_page: NewPage,
    server: Server,
    room_id: object,
    user: User,
    viewport: dict[str, int],
    *,
    expect_402: bool = False,
) -> Page:
    # Chromium logs a declined card's 402 answer as a console error; that one is expected.
    expected = (r"status of 402 \(Payment Required\)",) if expect_402 else ()
    page = new_page(viewport=viewport, expected_console_errors=expected)
    serve_pictures(page)
    signed_in(page, user)
    page.goto(server.url(f"/rooms/{room_id}"))
    joined(page)
    return page


def queue_lot(
    studio: Page, product: dict[str, Any], starting_bid: str = "1.00", seconds: int = LOT_SECONDS
) -> None:
    """The host adds a lot of `product` to the run sheet."""
    studio.locator("#lot-product").select_option(str(product["id"]))
    studio.locator("#lot-start").fill(starting_bid)
    studio.locator("#lot-duration").fill(str(seconds))
    studio.locator("#lot-queue").click()
    expect(studio.locator("#run-queue .run-row", has_text=str(product["title"]))).to_have_count(1)


def start_lot(studio: Page, title: str) -> None:
    studio.get_by_role("button", name=EN["auction.studio.start_named"].format(title=title)).click()
    expect(studio.locator("#run-active-title")).to_have_text(title)


def fill_address(page: Page) -> None:
    page.get_by_label(EN["shop.checkout.name"]).fill("Kari Nordmann")
    page.get_by_label(EN["shop.checkout.line1"], exact=True).fill("Storgata 1")
    page.get_by_label(EN["shop.checkout.postal_code"]).fill("0155")
    page.get_by_label(EN["shop.checkout.city"]).fill("Oslo")
    page.get_by_label(EN["shop.checkout.country"]).select_option("NO")


def fill_card(page: Page, number: str) -> None:
    page.get_by_label(EN["shop.checkout.card_number"]).fill(number)
    page.get_by_label(EN["shop.checkout.exp_month"]).fill("12")
    page.get_by_label(EN["shop.checkout.exp_year"]).fill("2031")
    page.get_by_label(EN["shop.checkout.cvc"]).fill("123")


def result(page: Page) -> str:
    return str(page.locator("#auction-result").text_content() or "")


def test_a_host_runs_three_lots_two_viewers_bid_and_the_winner_pays(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Card night", currency="EUR")
    server.start_room(host, room["id"])
    cards = [create_product(server, host, f"Holo card no. {n}") for n in (1, 2, 3)]
    titles = [str(card["title"]) for card in cards]

    # The host puts three lots on the run sheet, in order.
    studio = open_studio(new_page, server, host, room["id"])
    for card, seconds in zip(cards, (BID_LOT_SECONDS, LOT_SECONDS, BID_LOT_SECONDS), strict=True):
        queue_lot(studio, card, seconds=seconds)
    expect(studio.locator("#run-queue .run-row .run-title")).to_have_text(titles)

    # Two viewers come, one on a laptop, one on a phone: the lots are up next.
    ada_user = server.create_user("ada")
    bo_user = server.create_user("bo")
    ada = open_viewer(new_page, server, room["id"], ada_user, DESKTOP)
    bo = open_viewer(new_page, server, room["id"], bo_user, PHONE, expect_402=True)
    for page in (ada, bo):
        expect(page.locator("#auction-next-list .auction-next-name")).to_have_text(titles)

    # Bo pre-bids on the third lot before the show gets to it: a secret max of €4.00.
    bo.get_by_role("button", name=EN["auction.pre_bid_named"].format(title=titles[2])).click()
    pre_bid = bo.locator("#bid-sheet")
    expect(pre_bid.locator("#bid-sheet-title")).to_have_text(EN["auction.custom.pre_bid_title"])
    expect(pre_bid.locator("#bid-sheet-price")).to_have_text(
        EN["auction.custom.opens_at"].format(amount="€1.00")
    )
    bo.get_by_label(EN["auction.custom.max_in"].format(currency="EUR")).fill("4.00")
    pre_bid.get_by_role("button", name=EN["auction.custom.submit"]).click()
    expect(pre_bid).to_be_hidden()
    expect(bo.locator("#auction-next-list .auction-next-row", has_text=titles[2])).to_contain_text(
        EN["auction.your_max"].format(max="€4.00")
    )

    # Lot 1 starts: both see it on the block with a timer counting down by the server's clock.
    start_lot(studio, titles[0])
    for page in (ada, bo):
        expect(page.locator("#auction-title")).to_have_text(titles[0])
        expect(page.locator("#auction-price")).to_have_text("€1.00")
        expect(page.locator("#auction-leader")).to_have_text(EN["auction.no_bids_yet"])
        expect(page.locator("#auction-time")).to_have_text(re.compile(r"^0:(0[1-9]|1[0-5])$"))
        expect(page.locator("#bid-button")).to_have_text("Bid €1.00")
        # The product card steps aside while a lot is live.
        expect(page.locator("#product-card")).to_be_hidden()
    expect(ada.locator("#auction-next-list .auction-next-name")).to_have_text(titles[1:])

    # Ada bids in one tap and leads at the opening price.
    ada.locator("#bid-button").click()
    expect(ada.locator("#auction-standing")).to_have_text(EN["auction.winning"].format(max="€1.00"))
    expect(bo.locator("#auction-leader")).to_have_text(
        EN["auction.leader"].format(name=ada_user.display_name)
    )
    expect(bo.locator("#bid-button")).to_have_text("Bid €2.00")

    # Bo sets a secret max of €5.00: the server bids for Bo just past Ada's max.
    bo.locator("#custom-bid-open").click()
    sheet = bo.locator("#bid-sheet")
    expect(sheet).to_be_visible()
    expect(sheet.locator("#bid-max-hint")).to_have_text(EN["auction.custom.hint"])
    bo.get_by_label(EN["auction.custom.max_in"].format(currency="EUR")).fill("5.00")
    sheet.get_by_role("button", name=EN["auction.custom.submit"]).click()
    expect(sheet).to_be_hidden()
    expect(bo.locator("#auction-standing")).to_have_text(EN["auction.winning"].format(max="€5.00"))
    expect(bo.locator("#auction-price")).to_have_text("€2.00")
    expect(ada.locator("#auction-standing")).to_have_text(EN["auction.outbid"])
    expect(ada.locator("#bid-button")).to_have_text("Bid €3.00")
    # The studio's feed shows each bid, the newest first; no max is ever shown.
    expect(studio.locator("#run-feed li").first).to_contain_text("€2.00")
    expect(studio.locator("#run-feed li").first).to_contain_text(bo_user.display_name)

    # The hammer falls by the server's clock: Bo won at €2.00 and is asked to pay.
    sold = EN["auction.result.sold"].format(
        title=titles[0], name=bo_user.display_name, amount="€2.00"
    )
    expect(ada.locator("#auction-result")).to_have_text(sold, timeout=HAMMER_MS)
    expect(bo.locator("#auction-result")).to_have_text(sold)
    expect(bo.locator("#auction-won")).to_be_visible()
    expect(bo.locator("#auction-won-title")).to_have_text(EN["auction.won.title"])
    expect(bo.locator("#auction-won-text")).to_contain_text("€2.00")
    expect(ada.locator("#auction-won")).to_be_hidden()
    studio_row = studio.locator("#run-results .run-row", has_text=titles[0])
    expect(studio_row).to_contain_text(
        EN["auction.studio.result.sold"].format(name=bo_user.display_name, amount="€2.00")
    )

    # A reload does not lose the win: it is still there to pay for.
    bo.reload()
    joined(bo)
    expect(bo.locator("#auction-won-text")).to_contain_text(titles[0])

    # Bo pays with the test card in the checkout sheet, and the studio sees the paid order.
    bo.locator("#auction-pay").click()
    checkout = bo.locator("#checkout-sheet")
    expect(checkout).to_be_visible()
    expect(bo.locator("#checkout-hold")).to_be_hidden()
    expect(bo.locator("#checkout-release")).to_be_hidden()
    expect(bo.locator("#checkout-pay")).to_have_text("Pay €2.00")
    fill_address(bo)
    fill_card(bo, DECLINED)
    bo.locator("#checkout-pay").click()
    expect(bo.locator("#checkout-error")).to_contain_text(
        EN["auction.error.payment_declined"].split(";")[0]
    )
    fill_card(bo, PAYS)
    bo.locator("#checkout-pay").click()
    expect(bo.locator("#checkout-done")).to_be_visible()
    expect(bo.locator("#order-amount")).to_have_text("€2.00")
    bo.locator("#checkout-done-close").click()
    expect(bo.locator("#auction-won")).to_be_hidden()
    expect(
        studio.locator("#orders-list .order-row", has_text=bo_user.display_name)
    ).to_contain_text("€2.00")
    expect(studio_row.locator(".run-paid")).to_have_text(
        EN["auction.studio.paid"].format(amount="€2.00")
    )

    # Lot 2 runs without a bid.
    start_lot(studio, titles[1])
    expect(bo.locator("#auction-title")).to_have_text(titles[1])
    expect(bo.locator("#auction-result")).to_be_hidden()
    expect(bo.locator("#auction-result")).to_have_text(
        EN["auction.result.no_bids"].format(title=titles[1]), timeout=HAMMER_MS
    )
    expect(studio.locator("#run-results .run-row", has_text=titles[1])).to_contain_text(
        EN["auction.studio.result.no_bids"]
    )

    # Lot 3 opens with Bo's pre-bid in the lead. Ada's tap is topped at once by Bo's max,
    # and Bo wins it.
    start_lot(studio, titles[2])
    expect(bo.locator("#auction-standing")).to_have_text(EN["auction.winning"].format(max="€4.00"))
    expect(ada.locator("#auction-title")).to_have_text(titles[2])
    expect(ada.locator("#bid-button")).to_have_text("Bid €2.00")
    ada.locator("#bid-button").click()
    expect(ada.locator("#auction-notice")).to_have_text(
        EN["auction.outbid_at_once"].format(amount="€3.00")
    )
    expect(ada.locator("#auction-standing")).to_have_text(EN["auction.outbid"])
    expect(bo.locator("#auction-won-text")).to_contain_text(titles[2], timeout=HAMMER_MS)
    expect(studio.locator("#run-queue .run-row")).to_have_count(0)

    # After the show, its replay marks each lot with its hammer price; nobody bids on it.
    server.api("POST", f"/api/v1/rooms/{room['id']}/end", token=host.token)
    lots = bo.locator("#replay-lots .replay-lot")
    expect(lots).to_have_text(
        [
            EN["auction.replay.sold"].format(title=titles[0], amount="€2.00"),
            EN["auction.replay.no_bids"].format(title=titles[1]),
            EN["auction.replay.sold"].format(title=titles[2], amount="€3.00"),
        ]
    )
    expect(bo.locator("#bid-button")).to_be_hidden()
    expect(bo.locator("#auction-next")).to_be_hidden()


def test_screenshots_of_the_auction_card_the_custom_bid_sheet_and_the_run_sheet(
    server: Server, new_page: NewPage, screenshots: Path
) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Sneaker auction", currency="EUR")
    server.start_room(host, room["id"])
    cards = [create_product(server, host, f"Retro runner, size {n}") for n in (42, 43, 44)]
    studio = open_studio(new_page, server, host, room["id"])
    # Long lots, so the pictures are taken while one runs.
    for card in cards:
        queue_lot(studio, card, starting_bid="10.00", seconds=120)
    viewer = server.create_user("viewer")
    phone = open_viewer(new_page, server, room["id"], viewer, PHONE)
    laptop = open_viewer(new_page, server, room["id"], viewer, DESKTOP)
    start_lot(studio, str(cards[0]["title"]))
    phone.locator("#bid-button").click()
    expect(phone.locator("#auction-standing")).to_have_text(
        EN["auction.winning"].format(max="€10.00")
    )
    # The same person on a laptop: they lead there too (the max stays on the phone).
    expect(laptop.locator("#auction-standing")).to_have_text(EN["auction.winning_plain"])
    for page, size in ((phone, "390"), (laptop, "desktop")):
        page.screenshot(
            path=str(screenshots / f"auction-viewer-card-{size}.png"), animations="disabled"
        )
        page.locator("#custom-bid-open").click()
        expect(page.locator("#bid-sheet")).to_be_visible()
        page.screenshot(
            path=str(screenshots / f"auction-custom-bid-{size}.png"), animations="disabled"
        )
        # What cannot be a max is said in the sheet, and nothing is sent.
        field = page.get_by_label(EN["auction.custom.max_in"].format(currency="EUR"))
        submit = page.get_by_role("button", name=EN["auction.custom.submit"])
        field.fill("ten euros")
        submit.click()
        expect(page.locator("#bid-error")).to_have_text(EN["auction.custom.error.amount"])
        field.fill("10.50")  # under the next bid
        submit.click()
        expect(page.locator("#bid-error")).to_have_text(
            EN["auction.custom.error.too_low"].format(amount="€11.00")
        )
        expect(field).to_have_attribute("aria-invalid", "true")
        page.locator("#bid-cancel").click()
    expect(studio.locator("#run-feed li")).to_have_count(1)
    studio.locator("#run-sheet").screenshot(
        path=str(screenshots / "auction-studio-run-sheet-desktop.png"), animations="disabled"
    )
    studio.set_viewport_size({"width": PHONE["width"], "height": PHONE["height"]})
    studio.locator("#run-sheet").screenshot(
        path=str(screenshots / "auction-studio-run-sheet-390.png"), animations="disabled"
    )


def test_the_host_sees_the_lot_without_a_bid_button_and_a_guest_is_asked_to_sign_in(
    server: Server, new_page: NewPage
) -> None:
    host = server.create_user("host")
    room = server.create_room(host, "Vinyl auction", currency="EUR")
    server.start_room(host, room["id"])
    record = create_product(server, host, "First pressing, 1972")
    queued = create_product(server, host, "Picture disc")
    on_socket(
        server,
        host,
        room["id"],
        [
            {
                "type": "auction.queue",
                "product_id": queued["id"],
                "starting_bid": 500,
                "duration_s": 60,
            },
            {
                "type": "auction.start",
                "product_id": record["id"],
                "starting_bid": 1000,
                "duration_s": 60,
            },
        ],
    )

    # The host watches their own show: the lot and what is up next, but never a Bid.
    own = open_viewer(new_page, server, room["id"], host, PHONE)
    expect(own.locator("#auction-title")).to_have_text(str(record["title"]))
    expect(own.locator("#auction-price")).to_have_text("€10.00")
    expect(own.locator("#auction-time")).to_have_text(re.compile(r"^0:[0-5]\d$"))
    expect(own.locator("#bid-button")).to_be_hidden()
    expect(own.locator("#custom-bid-open")).to_be_hidden()
    expect(own.locator("#auction-next-list .auction-next-name")).to_have_text(
        [str(queued["title"])]
    )
    expect(own.locator("#auction-next-list button")).to_have_count(0)

    # A guest sees the Bid button; tapping it asks them to sign in first.
    guest = new_page(viewport=PHONE)
    serve_pictures(guest)
    guest.goto(f"/rooms/{room['id']}")
    joined(guest)
    guest.locator("#bid-button").click()
    expect(guest.locator("#auction-notice")).to_have_text(EN["auction.sign_in_to_bid"])
    expect(guest.locator("#auth-sheet")).to_be_visible()


@pytest.fixture
def quick_pay_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose auction winners have five seconds to pay."""
    base = tmp_path_factory.mktemp("livecommerce-quick-pay")
    with running_server(base, "--auction-pay-s", "5") as quick:
        yield quick


def bid_from_socket(server: Server, user: User, room_id: object, auction_id: str, max: int) -> None:
    """`user` bids from a phone of their own; returns once the bid is accepted."""
    url = f"{server.ws_url}/ws/rooms/{room_id}?token={user.token}"
    with connect(url, subprotocols=["livecommerce.json"], open_timeout=scaled(10)) as ws:  # type: ignore[list-item]
        ref = f"bid-{uuid.uuid4().hex[:6]}"
        key = uuid.uuid4().hex
        ws.send(
            json.dumps(
                {"type": "bid", "auction_id": auction_id, "amount": max, "key": key, "ref": ref}
            )
        )
        while True:
            frame = json.loads(ws.recv(timeout=scaled(10)))
            replies = frame if isinstance(frame, list) else [frame]
            reply = next((r for r in replies if r.get("ref") == ref), None)
            if reply is not None:
                assert reply["type"] == "bid.accepted", reply
                return


def test_a_winner_who_does_not_pay_lets_the_host_offer_the_lot_to_the_runner_up(
    quick_pay_server: Server, new_page: NewPage
) -> None:
    server = quick_pay_server
    host = server.create_user("host")
    room = server.create_room(host, "Watch auction", currency="EUR")
    server.start_room(host, room["id"])
    watch = create_product(server, host, "Diver's watch, 1968")
    title = str(watch["title"])
    studio = open_studio(new_page, server, host, room["id"])
    queue_lot(studio, watch, seconds=BID_LOT_SECONDS)
    start_lot(studio, title)
    auction_id = studio.locator("#run-active").get_attribute("data-auction-id")
    assert auction_id is not None

    # Two bidders: Rune sets a max of €3.00 from the viewer page's own phone, Wes outbids him.
    rune = server.create_user("rune")
    wes = server.create_user("wes")
    runner_up = open_viewer(new_page, server, room["id"], rune, PHONE)
    bid_from_socket(server, rune, room["id"], auction_id, 300)
    bid_from_socket(server, wes, room["id"], auction_id, 800)
    expect(runner_up.locator("#auction-standing")).to_have_text(EN["auction.outbid"])

    # Wes wins and never pays: the order lapses, and the studio offers a second chance.
    result = studio.locator("#run-results .run-row", has_text=title)
    expect(result).to_contain_text(
        EN["auction.studio.result.sold"].format(name=wes.display_name, amount="€4.00"),
        timeout=HAMMER_MS,
    )
    expect(result.locator(".run-lapsed")).to_have_text(EN["auction.studio.lapsed"])
    result.get_by_role(
        "button", name=EN["auction.studio.second_chance_named"].format(title=title)
    ).click()
    expect(studio.locator("#run-status")).to_have_text(
        EN["auction.studio.offered"].format(title=title)
    )
    expect(result.get_by_role("button")).to_have_count(0)

    # Rune is offered the lot at his max.
    expect(runner_up.locator("#auction-won-title")).to_have_text(EN["auction.won.second_chance"])
    expect(runner_up.locator("#auction-won-text")).to_contain_text("€3.00")
