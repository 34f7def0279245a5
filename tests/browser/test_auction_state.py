"""The pages' auction state (static/js/auction-state.js, kept by room-state.js), in Chromium.

The viewer's auction card, the studio's run sheet and the replay read live auctions from the
room state the socket client folds. These tests load the reducer into a page of the test
server and feed it the messages of docs/protocol.md, "Auctions", as a bidder, a rival and the
host would receive them: events in, state out. No socket, no DOM.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from livecommerce.events import Event

from .support import Server, expect_timeout_ms

FOLD = """async ([events, start]) => {
  const m = await import('/static/js/room-state.js');
  let state = start ?? m.initialState();
  for (const event of events) state = m.reduce(state, event);
  return state;
}"""

READ = """async ([name, state, id]) => {
  const m = await import('/static/js/auction-state.js');
  return m[name](state.auctions, id) ?? null;
}"""

ROOM = {"id": "r1", "title": "Card night", "state": "live", "host": {"id": "h1", "name": "Hana"}}
ME = {"id": "u1", "name": "Una"}
RIVAL = {"id": "u2", "name": "Rolf"}
T0 = 1_700_000_000_000


@pytest.fixture(scope="module")
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(base_url=server.http_url)
    context.set_default_timeout(expect_timeout_ms())
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/static/locales/en.json")
    yield page
    context.close()
    assert not errors


def fold(page: Page, events: list[Event], start: dict[str, Any] | None = None) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate(FOLD, [events, start])
    return state


def read(page: Page, name: str, state: dict[str, Any], id: str | None = None) -> Any:
    return page.evaluate(READ, [name, state, id])


def lot(id: str, state: str = "queued", **fields: Any) -> dict[str, Any]:
    return {
        "id": id,
        "room_id": "r1",
        "product_id": f"p-{id}",
        "title": f"Card {id}",
        "image_url": None,
        "currency": "EUR",
        "starting_bid": 100,
        "current_bid": 0,
        "high_bidder": None,
        "next_bid": 100,
        "bids": 0,
        "reserve_met": True,
        "duration_s": 5,
        "starts_at": 0,
        "ends_at": 0,
        "mode": "standard",
        "extend_s": 10,
        "state": state,
        "result": None,
        **fields,
    }


def active(id: str, **fields: Any) -> dict[str, Any]:
    return lot(id, "active", starts_at=T0, ends_at=T0 + 5000, **fields)


def welcome(seq: int = 10, you: dict[str, Any] | None = None, **fields: Any) -> Event:
    return {
        "type": "welcome",
        "seq": seq,
        "epoch": "e1",
        "room": ROOM,
        "you": {**ME, "role": "viewer", "can_chat": True} if you is None else you,
        "viewers": 3,
        "chat": [],
        "pinned": None,
        "pinned_chat": None,
        "sales": [],
        "auctions": [],
        "server_time": T0,
        **fields,
    }


def bid_event(seq: int, id: str, amount: int, bidder: dict[str, str], bids: int) -> Event:
    return {
        "type": "auction.bid",
        "seq": seq,
        "auction_id": id,
        "amount": amount,
        "bidder": bidder,
        "next_bid": amount + 100,
        "ends_at": T0 + 5000,
        "bids": bids,
    }


def test_a_page_that_has_not_joined_knows_no_lots(page: Page) -> None:
    auctions = fold(page, [])["auctions"]
    assert auctions["lots"] == {}
    assert read(page, "activeLot", {"auctions": auctions}) is None
    assert read(page, "queuedLots", {"auctions": auctions}) == []
    assert read(page, "lastResult", {"auctions": auctions}) is None


def test_the_welcome_gives_the_run_sheet_the_live_lot_and_my_max(page: Page) -> None:
    state = fold(
        page,
        [
            welcome(
                auctions=[
                    active("a1", current_bid=300, high_bidder=ME, next_bid=400, bids=2),
                    lot("a2"),
                    lot("a3"),
                    lot("a0", "ended", result={"reason": "no_bids"}),
                ],
                you={**ME, "role": "viewer", "can_chat": True, "bids": {"a1": 900, "a2": 500}},
            )
        ],
    )
    assert read(page, "activeLot", state)["id"] == "a1"
    assert [q["id"] for q in read(page, "queuedLots", state)] == ["a2", "a3"]
    assert read(page, "lastResult", state)["id"] == "a0"
    # I lead the live lot with my secret max; my pre-bid on the next one is not beaten yet.
    assert read(page, "standing", state, "a1") == {"max": 900, "leading": True, "outbid": False}
    assert read(page, "standing", state, "a2")["max"] == 500
    assert read(page, "standing", state, "a3") is None


def test_a_lot_runs_from_the_run_sheet_to_sold_as_the_room_sees_it(page: Page) -> None:
    state = fold(
        page,
        [
            welcome(),
            {"type": "auction.queued", "seq": 11, "auction": lot("a1")},
            {"type": "auction.queued", "seq": 12, "auction": lot("a2")},
            {"type": "auction.started", "seq": 13, "auction": active("a1")},
            bid_event(14, "a1", 100, RIVAL, 1),
            bid_event(15, "a1", 200, ME, 2),
        ],
    )
    now = read(page, "activeLot", state)
    assert (now["id"], now["current_bid"], now["high_bidder"], now["next_bid"]) == (
        "a1",
        200,
        ME,
        300,
    )
    assert [q["id"] for q in read(page, "queuedLots", state)] == ["a2"]
    # The studio's feed: each bid with the high bidder after it, newest first.
    assert [(b["amount"], b["bidder"]["name"]) for b in state["auctions"]["feed"]["a1"]] == [
        (200, "Una"),
        (100, "Rolf"),
    ]
    done = fold(
        page,
        [
            {
                "type": "auction.ended",
                "seq": 16,
                "auction_id": "a1",
                "reason": "sold",
                "winner": ME,
                "amount": 200,
            }
        ],
        state,
    )
    assert read(page, "activeLot", done) is None
    result = read(page, "lastResult", done)
    assert result["state"] == "ended"
    assert result["result"] == {"reason": "sold", "winner": ME, "amount": 200}
    assert [e["id"] for e in read(page, "endedLots", done)] == ["a1"]


def test_events_the_welcome_already_had_change_nothing_and_an_ended_lot_stays_ended(
    page: Page,
) -> None:
    # The welcome's lots were read a step after its seq (20): they already show a1 started
    # with two bids and a0 sold. The events that follow in the history repeat that.
    state = fold(
        page,
        [
            welcome(
                seq=20,
                auctions=[
                    active("a1", current_bid=200, high_bidder=ME, next_bid=300, bids=2),
                    lot("a0", "ended", result={"reason": "sold", "winner": RIVAL, "amount": 700}),
                ],
            ),
            {"type": "auction.started", "seq": 21, "auction": active("a1")},
            bid_event(22, "a1", 200, ME, 2),
            {"type": "auction.started", "seq": 23, "auction": active("a0")},
            {"type": "auction.ended", "seq": 24, "auction_id": "a0", "reason": "no_bids"},
        ],
    )
    a1 = state["auctions"]["lots"]["a1"]
    assert (a1["state"], a1["current_bid"], a1["bids"]) == ("active", 200, 2)
    assert state["auctions"]["feed"].get("a1", []) == []
    a0 = state["auctions"]["lots"]["a0"]
    assert (a0["state"], a0["result"]["reason"], a0["result"]["amount"]) == ("ended", "sold", 700)
    assert read(page, "activeLot", state)["id"] == "a1"
    # The next bid is new, and a repeat of its seq (a resume's overlap) is folded once.
    later = fold(
        page, [bid_event(25, "a1", 300, RIVAL, 3), bid_event(25, "a1", 300, RIVAL, 3)], state
    )
    assert [b["amount"] for b in later["auctions"]["feed"]["a1"]] == [300]
    assert later["auctions"]["lots"]["a1"]["high_bidder"] == RIVAL


def test_my_one_tap_bid_leads_until_a_rival_outbids_me(page: Page) -> None:
    state = fold(page, [welcome(auctions=[active("a1")])])
    # My Bid is accepted: I lead at the opening price with a max of it.
    state = fold(
        page,
        [
            {
                "type": "bid.accepted",
                "ref": 7,
                "auction_id": "a1",
                "amount": 100,
                "max": 100,
                "leading": True,
            },
            bid_event(11, "a1", 100, ME, 1),
        ],
        state,
    )
    assert read(page, "standing", state, "a1") == {
        "max": 100,
        "leading": True,
        "outbid": False,
        "voided": False,
    }
    assert state["seq"] == 11  # the reply moved no cursor
    # A rival bids more: the room sees their bid, and I get a private outbid.
    state = fold(
        page,
        [
            bid_event(12, "a1", 200, RIVAL, 2),
            {"type": "outbid", "auction_id": "a1", "amount": 200, "next_bid": 300},
        ],
        state,
    )
    mine = read(page, "standing", state, "a1")
    assert (mine["leading"], mine["outbid"]) == (False, True)
    assert state["auctions"]["lots"]["a1"]["next_bid"] == 300


def test_my_bid_from_another_device_makes_me_the_leader_here_too(page: Page) -> None:
    state = fold(page, [welcome(auctions=[active("a1")]), bid_event(11, "a1", 100, ME, 1)])
    assert read(page, "standing", state, "a1") == {"max": None, "leading": True, "outbid": False}
    state = fold(page, [bid_event(12, "a1", 200, RIVAL, 2)], state)
    assert read(page, "standing", state, "a1") == {"max": None, "leading": False, "outbid": True}
    # Someone else's bid on a lot I never bid on says nothing about me.
    other = fold(page, [welcome(auctions=[active("a2")]), bid_event(11, "a2", 100, RIVAL, 1)])
    assert read(page, "standing", other, "a2") is None


def test_a_custom_max_that_does_not_take_the_lead_is_outbid_at_once(page: Page) -> None:
    state = fold(
        page,
        [
            welcome(
                auctions=[active("a1", current_bid=500, high_bidder=RIVAL, next_bid=600, bids=3)]
            ),
            {
                "type": "bid.accepted",
                "ref": 3,
                "auction_id": "a1",
                "amount": 800,
                "max": 700,
                "leading": False,
            },
        ],
    )
    assert read(page, "standing", state, "a1") == {
        "max": 700,
        "leading": False,
        "outbid": True,
        "voided": False,
    }
    # The reply's price raised the price known; a stale private outbid never lowers it.
    state = fold(
        page, [{"type": "outbid", "auction_id": "a1", "amount": 600, "next_bid": 700}], state
    )
    assert state["auctions"]["lots"]["a1"]["current_bid"] == 800


def test_a_bid_refused_as_too_low_raises_the_next_bid_shown(page: Page) -> None:
    state = fold(page, [welcome(auctions=[active("a1", next_bid=400)])])
    raised = fold(page, [{"type": "auction.next_bid", "auction_id": "a1", "next_bid": 600}], state)
    assert raised["auctions"]["lots"]["a1"]["next_bid"] == 600
    lower = fold(page, [{"type": "auction.next_bid", "auction_id": "a1", "next_bid": 300}], raised)
    assert lower["auctions"]["lots"]["a1"]["next_bid"] == 600


def test_voided_bids_are_struck_and_the_price_falls_back(page: Page) -> None:
    state = fold(
        page,
        [
            welcome(
                auctions=[active("a1")],
                you={**ME, "role": "viewer", "can_chat": True, "bids": {"a1": 400}},
            ),
            bid_event(11, "a1", 100, ME, 1),
            bid_event(12, "a1", 200, RIVAL, 2),
            {
                "type": "auction.voided",
                "seq": 13,
                "auction_id": "a1",
                "user_id": "u2",
                "amount": 100,
                "bidder": ME,
                "next_bid": 200,
                "ends_at": T0 + 5000,
                "bids": 1,
            },
        ],
    )
    now = state["auctions"]["lots"]["a1"]
    assert (now["current_bid"], now["high_bidder"], now["next_bid"]) == (100, ME, 200)
    assert [(b["amount"], b["voided"]) for b in state["auctions"]["feed"]["a1"]] == [
        (200, True),
        (100, False),
    ]
    # With the rival's bids gone, I lead again.
    assert read(page, "standing", state, "a1")["leading"] is True


def test_my_win_awaits_payment_until_paid_or_lapsed(page: Page) -> None:
    order = {
        "id": "o1",
        "auction_id": "a1",
        "state": "awaiting_payment",
        "amount": 200,
        "currency": "EUR",
        "pay_by": T0 + 600_000,
    }
    state = fold(
        page,
        [
            welcome(auctions=[active("a1")]),
            {
                "type": "auction.ended",
                "seq": 11,
                "auction_id": "a1",
                "reason": "sold",
                "winner": ME,
                "amount": 200,
            },
            {"type": "auction.won", "auction_id": "a1", "order": order, "second_chance": False},
        ],
    )
    due = read(page, "awaitingPayment", state)
    assert [(w["auction_id"], w["order"]["id"], w["second_chance"]) for w in due] == [
        ("a1", "o1", False)
    ]
    # The same note twice is one win.
    assert (
        len(
            read(
                page,
                "awaitingPayment",
                fold(page, [{"type": "auction.won", "auction_id": "a1", "order": order}], state),
            )
        )
        == 1
    )
    paid = fold(page, [{"type": "order.created", "order": {**order, "state": "paid"}}], state)
    assert read(page, "awaitingPayment", paid) == []
    assert paid["auctions"]["won"]["o1"]["state"] == "paid"
    lapsed = fold(page, [{"type": "order.lapsed", "order": {**order, "state": "lapsed"}}], state)
    assert read(page, "awaitingPayment", lapsed) == []
    assert lapsed["auctions"]["won"]["o1"]["state"] == "lapsed"


def test_the_host_sees_a_lapsed_order_once_and_offers_it_once(page: Page) -> None:
    host = {"id": "h1", "name": "Hana", "role": "host", "can_chat": True}
    order = {"id": "o1", "auction_id": "a1", "state": "lapsed", "buyer": ME, "amount": 200}
    state = fold(page, [welcome(you=host), {"type": "order.lapsed", "order": order}])
    assert state["auctions"]["lapsed"] == {"a1": {"order": order, "offered": False}}
    offered = fold(page, [{"type": "auction.offered", "auction_id": "a1"}], state)
    assert offered["auctions"]["lapsed"]["a1"]["offered"] is True
    # The same lapse heard again does not offer a second chance twice.
    again = fold(page, [{"type": "order.lapsed", "order": order}], offered)
    assert again["auctions"]["lapsed"]["a1"]["offered"] is True


def test_signing_out_forgets_my_bids_and_wins(page: Page) -> None:
    order = {"id": "o1", "auction_id": "a1", "state": "awaiting_payment", "pay_by": T0}
    state = fold(
        page,
        [
            welcome(
                auctions=[active("a1")],
                you={**ME, "role": "viewer", "can_chat": True, "bids": {"a1": 400}},
            ),
            {"type": "auction.won", "auction_id": "a1", "order": order},
        ],
    )
    guest = fold(
        page,
        [
            welcome(
                seq=12,
                you={"id": None, "name": "", "role": "guest", "can_chat": False},
                auctions=[active("a1")],
            )
        ],
        state,
    )
    assert guest["auctions"]["mine"] == {}
    assert read(page, "awaitingPayment", guest) == []


def test_a_replay_marks_each_lot_that_ran_with_its_hammer_price_or_its_reason(page: Page) -> None:
    recordings = [
        {"url": "/recordings/a.webm", "started_at": T0, "ended_at": T0 + 60_000},
        {"url": "/recordings/b.webm", "started_at": T0 + 100_000, "ended_at": T0 + 160_000},
    ]

    def ran(id: str, from_s: int, to_s: int, **result: Any) -> dict[str, Any]:
        return lot(
            id, "ended", starts_at=T0 + from_s * 1000, ends_at=T0 + to_s * 1000, result=result
        )

    lots = [
        ran("a2", 110, 120, reason="no_bids"),
        ran("a1", 20, 30, reason="sold", winner=ME, amount=1200),
        # Ran between the recordings: marked, but there is no moment to play.
        ran("a3", 70, 80, reason="reserve_not_met"),
        # Cancelled while queued: it never ran, so the replay has nothing to show of it.
        lot("a4", "ended", result={"reason": "cancelled"}),
    ]
    marks = page.evaluate(
        """async ([lots, recordings]) => {
          const m = await import('/static/js/viewer-replay.js');
          // The same lot known twice (the room state and the replay's answer) is one mark.
          return m.lotMarks([...lots, lots[1]], m.timeline(recordings));
        }""",
        [lots, recordings],
    )
    assert [(m["id"], m["reason"], m["amount"], m["at"]) for m in marks] == [
        ("a1", "sold", 1200, 30),
        ("a3", "reserve_not_met", None, None),
        ("a2", "no_bids", None, 80),
    ]
    assert {(m["title"], m["currency"]) for m in marks} == {
        ("Card a1", "EUR"),
        ("Card a3", "EUR"),
        ("Card a2", "EUR"),
    }
