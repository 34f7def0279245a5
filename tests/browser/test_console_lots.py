"""The console's fold of auction lots and its bid-log shaping (static/js/console-lots.js),
run in the real Chromium.

The moderator console keeps the room's lots by folding the socket's auction events through
one pure function, and turns the staff's bid log into rows newest first. These tests load the
module into a page of the browser-test server and feed it what the server sends
(docs/protocol.md, "Auctions"): events in, state out. No socket, no DOM, no clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from livecommerce.events import Event

from .support import Server, expect_timeout_ms

pytestmark = pytest.mark.browser

MODULE = "/static/js/console-lots.js"


@pytest.fixture(scope="module")
def page(browser: Browser, server: Server) -> Iterator[Page]:
    """A page of the server's origin that runs no page script of its own: only the module."""
    context = browser.new_context(base_url=server.http_url)
    context.set_default_timeout(expect_timeout_ms())
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/static/locales/en.json")
    yield page
    context.close()
    assert not errors


def call(page: Page, name: str, *args: Any) -> Any:
    return page.evaluate(
        "async ([module, name, args]) => (await import(module))[name](...args)",
        [MODULE, name, list(args)],
    )


def fold(page: Page, events: list[Event]) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate(
        """async ([module, events]) => {
          const m = await import(module);
          let state = m.initialLots();
          for (const event of events) state = m.foldLots(state, event);
          return state;
        }""",
        [MODULE, events],
    )
    return state


def lot(id: str, state: str = "active", **fields: Any) -> dict[str, Any]:
    return {
        "id": id,
        "title": f"Lot {id}",
        "currency": "EUR",
        "starting_bid": 1000,
        "current_bid": 0,
        "high_bidder": None,
        "next_bid": 1000,
        "bids": 0,
        "state": state,
        "starts_at": 1_700_000_000_000 if state != "queued" else 0,
        "ends_at": 1_700_000_060_000 if state != "queued" else 0,
        "result": None,
        **fields,
    }


SHILL = {"id": "u-shill", "name": "Shill"}
VIEWER = {"id": "u-viewer", "name": "Vera"}


def test_a_console_that_joins_mid_lot_sees_the_running_lot_and_the_last_result(
    page: Page,
) -> None:
    sold = lot("a1", "ended", result={"reason": "sold", "winner": VIEWER, "amount": 1500})
    running = lot("a2", current_bid=1200, high_bidder=SHILL, bids=2)
    queued = lot("a3", "queued")
    state = fold(page, [{"type": "welcome", "seq": 5, "auctions": [sold, running, queued]}])
    assert state["running"] == "a2"
    assert state["last"] == "a1"
    assert set(state["lots"]) == {"a1", "a2", "a3"}


def test_bids_and_a_void_move_the_price_and_the_high_bidder(page: Page) -> None:
    started = {"type": "auction.started", "seq": 2, "auction": lot("a1")}
    bid = {"type": "auction.bid", "seq": 3, "auction_id": "a1", "amount": 3200,
           "bidder": SHILL, "next_bid": 3400, "ends_at": 1_700_000_070_000, "bids": 2}  # fmt: skip
    voided = {"type": "auction.voided", "seq": 4, "auction_id": "a1", "user_id": "u-shill",
              "amount": 1000, "bidder": VIEWER, "next_bid": 1100,
              "ends_at": 1_700_000_070_000, "bids": 1}  # fmt: skip
    after_bid = fold(page, [started, bid])["lots"]["a1"]
    assert (after_bid["current_bid"], after_bid["high_bidder"]) == (3200, SHILL)
    assert (after_bid["next_bid"], after_bid["bids"]) == (3400, 2)
    assert after_bid["ends_at"] == 1_700_000_070_000  # a late bid moved the end

    after_void = fold(page, [started, bid, voided])
    shown = after_void["lots"]["a1"]
    assert (shown["current_bid"], shown["high_bidder"], shown["bids"]) == (1000, VIEWER, 1)
    assert after_void["running"] == "a1"


def test_the_hammer_ends_the_running_lot_and_becomes_the_last_result(page: Page) -> None:
    started = {"type": "auction.started", "seq": 2, "auction": lot("a1")}
    ended = {"type": "auction.ended", "seq": 3, "auction_id": "a1", "reason": "sold",
             "winner": VIEWER, "amount": 1000}  # fmt: skip
    state = fold(page, [started, ended])
    assert state["running"] is None
    assert state["last"] == "a1"
    assert state["lots"]["a1"]["state"] == "ended"
    assert state["lots"]["a1"]["result"] == {"reason": "sold", "winner": VIEWER, "amount": 1000}


def test_events_for_lots_never_seen_and_other_events_change_nothing(page: Page) -> None:
    stray = {"type": "auction.bid", "seq": 3, "auction_id": "nope", "amount": 5, "bids": 1}
    state = fold(page, [stray, {"type": "chat.message", "seq": 4, "text": "hi"}])
    assert state == {"lots": {}, "running": None, "last": None}


def test_time_left_is_read_from_the_server_clock_and_stops_at_zero(page: Page) -> None:
    running = lot("a1", ends_at=1_700_000_060_000)
    assert call(page, "timeLeftMs", running, 1_700_000_050_500) == 9500
    assert call(page, "timeLeftMs", running, 1_700_000_061_000) == 0
    assert call(page, "timeLeftMs", lot("a2", "queued"), 1_700_000_000_000) is None


def test_the_staff_log_shows_newest_first_with_who_placed_each_bid_and_their_max(
    page: Page,
) -> None:
    bids = [
        {"n": 1, "amount": 1000, "bidder": VIEWER, "at": 1, "voided": False,
         "placed_by": VIEWER, "max": 3000},
        {"n": 2, "amount": 3200, "bidder": SHILL, "at": 2, "voided": True,
         "placed_by": SHILL, "max": 5000},
        {"n": 3, "amount": 3400, "bidder": VIEWER, "at": 3, "voided": False,
         "placed_by": SHILL, "max": 3300},
    ]  # fmt: skip
    rows = call(page, "bidRows", bids)
    assert [r["n"] for r in rows] == [3, 2, 1]
    assert rows[0] == {"n": 3, "who": SHILL, "gone": False, "max": 3300, "amount": 3400,
                       "at": 3, "voided": False}  # fmt: skip
    # Only standing bids can be voided: the shill has one left, the viewer one.
    standing = page.evaluate(
        """async ([module, bids]) => {
          const m = await import(module);
          return Object.fromEntries(m.standingBidders(m.bidRows(bids)));
        }""",
        [MODULE, bids],
    )
    assert standing == {"u-shill": 1, "u-viewer": 1}


def test_a_viewers_log_without_maxes_names_the_leader(page: Page) -> None:
    rows = call(page, "bidRows", [{"n": 1, "amount": 1000, "bidder": VIEWER, "at": 1,
                                   "voided": False}])  # fmt: skip
    assert rows == [{"n": 1, "who": VIEWER, "gone": False, "max": None, "amount": 1000,
                     "at": 1, "voided": False}]  # fmt: skip


def test_a_deleted_bidders_bids_name_nobody_and_cannot_be_voided(page: Page) -> None:
    gone = {"id": "deleted", "name": ""}
    bids = [{"n": 1, "amount": 1000, "bidder": gone, "at": 1, "voided": False,
             "placed_by": gone, "max": 2000}]  # fmt: skip
    rows = call(page, "bidRows", bids)
    assert (rows[0]["who"], rows[0]["gone"], rows[0]["max"]) == (None, True, 2000)
    standing = page.evaluate(
        """async ([module, bids]) => {
          const m = await import(module);
          return m.standingBidders(m.bidRows(bids)).size;
        }""",
        [MODULE, bids],
    )
    assert standing == 0


def test_the_bid_log_is_read_at_most_twice_a_second(page: Page) -> None:
    assert call(page, "refreshDelay", None, 10_000) == 0
    assert call(page, "refreshDelay", 10_000, 10_100) == 400
    assert call(page, "refreshDelay", 10_000, 10_700) == 0
