"""The pages' room-state reducer (static/js/room-state.js), run in the real Chromium.

The viewer page, the studio and the moderator console all keep a room by folding its socket
events through one pure function, `reduce(state, event) -> state`. These tests load that very
module into a page of the browser-test server and feed it event sequences as the server sends
them (docs/protocol.md, "The room gateway"): events in, state out. No socket, no DOM.
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


def fold(page: Page, events: list[Event], start: dict[str, Any] | None = None) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate(FOLD, [events, start])
    return state


def sequence(page: Page, seq: int | None, message: Event) -> str:
    step: str = page.evaluate(
        """async ([seq, message]) =>
          (await import('/static/js/room-state.js')).sequence(seq, message)""",
        [seq, message],
    )
    return step


ROOM = {
    "id": "r1",
    "title": "Spring drop",
    "state": "live",
    "stream": "live",
    "slow_s": 0,
    "paid_partnership": False,
    "moderators": [],
    "host": {"id": "h1", "name": "Hana"},
}


def line(seq: int, id: str, text: str, user: str = "u1") -> Event:
    return {
        "type": "chat.message",
        "seq": seq,
        "id": id,
        "user": {"id": user, "name": user.upper()},
        "text": text,
        "at": 1_700_000_000_000 + seq,
    }


def sale(id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": id,
        "product_id": "p1",
        "title": "Mug",
        "price": 1200,
        "currency": "EUR",
        "units": 10,
        "per_user_limit": 1,
        "starts_at": 1_700_000_000_000,
        "ends_at": 1_700_000_300_000,
        "state": "active",
        "end_reason": None,
        "available": 10,
        "held": 0,
        "sold": 0,
        **fields,
    }


def welcome(seq: int = 10, **fields: Any) -> Event:
    return {
        "type": "welcome",
        "seq": seq,
        "epoch": "e1",
        "room": ROOM,
        "you": {"id": "u1", "name": "U1", "role": "viewer", "can_chat": True},
        "viewers": 3,
        "chat": [line(9, "m9", "first")],
        "pinned": None,
        "pinned_chat": None,
        "sales": [],
        "server_time": 1_700_000_000_000,
        **fields,
    }


def test_a_page_that_has_not_joined_knows_nothing_yet(page: Page) -> None:
    state = fold(page, [])
    assert state == {
        "seq": None,
        "epoch": None,
        "room": None,
        "you": None,
        "viewers": None,
        "chat": [],
        "pinned": None,
        "pinnedChat": None,
        "sales": {},
        "orders": [],
        "reactions": 0,
        "auctions": {
            "lots": {},
            "places": 0,
            "last": None,
            "mine": {},
            "feed": {},
            "won": {},
            "lapsed": {},
        },
    }


def test_the_welcome_is_the_room_at_its_seq(page: Page) -> None:
    product = {"id": "p1", "title": "Mug", "price": 1500, "currency": "EUR"}
    pinned_line = {"id": "m9", "user": {"id": "u1", "name": "U1"}, "text": "first"}
    state = fold(
        page,
        [
            welcome(
                pinned=product, pinned_chat=pinned_line, sales=[sale("s1")], viewers={"count": 7}
            )
        ],
    )
    assert state["seq"] == 10
    assert state["epoch"] == "e1"
    assert state["room"] == ROOM
    assert state["you"]["id"] == "u1"
    assert state["viewers"] == 7  # also read from the {count} shape
    assert [m["id"] for m in state["chat"]] == ["m9"]
    assert state["pinned"] == product
    assert state["pinnedChat"] == pinned_line
    assert state["sales"] == {"s1": sale("s1")}


def test_the_room_read_over_http_stands_until_the_welcome(page: Page) -> None:
    before = fold(page, [{"type": "room", "room": {**ROOM, "state": "scheduled"}}])
    assert before["room"]["state"] == "scheduled"
    assert before["seq"] is None
    after = fold(page, [welcome()], before)
    assert after["room"] == ROOM
    # A welcome without a room keeps the one known.
    assert fold(page, [welcome(room=None)], before)["room"]["state"] == "scheduled"


def test_chat_lines_arrive_in_order_and_a_repeat_is_not_shown_twice(page: Page) -> None:
    state = fold(page, [welcome(), line(11, "m11", "hello"), line(12, "m12", "<b>plain</b>")])
    assert [(m["id"], m["text"]) for m in state["chat"]] == [
        ("m9", "first"),
        ("m11", "hello"),
        ("m12", "<b>plain</b>"),
    ]
    assert set(state["chat"][1]) == {"id", "user", "text", "at"}  # the line, not its envelope
    assert state["seq"] == 12
    # The same line again under a later seq (a replay that overlaps) adds nothing.
    again = fold(page, [line(13, "m12", "<b>plain</b>")], state)
    assert [m["id"] for m in again["chat"]] == ["m9", "m11", "m12"]
    assert again["seq"] == 13


def test_only_the_most_recent_lines_are_kept(page: Page) -> None:
    lines = [line(11 + i, f"m{11 + i}", f"line {i}") for i in range(305)]
    state = fold(page, [welcome(), *lines])
    assert len(state["chat"]) == 300
    assert state["chat"][0]["id"] == "m16"
    assert state["chat"][-1]["id"] == "m315"


def test_a_deleted_line_is_marked_and_a_deleted_pinned_line_is_unpinned(page: Page) -> None:
    pinned = {"id": "m11", "user": {"id": "u2", "name": "U2"}, "text": "buy here"}
    state = fold(
        page,
        [
            welcome(),
            line(11, "m11", "buy here", user="u2"),
            {"type": "chat.pinned", "seq": 12, "message": pinned, "at": 1},
            {"type": "chat.deleted", "seq": 13, "id": "m11"},
        ],
    )
    assert (state["chat"][-1]["id"], state["chat"][-1]["deleted"]) == ("m11", True)
    assert "deleted" not in state["chat"][0]
    assert state["pinnedChat"] is None


def test_pinning_and_unpinning_a_chat_line(page: Page) -> None:
    pinned = {"id": "m9", "user": {"id": "u1", "name": "U1"}, "text": "first"}
    state = fold(page, [welcome(), {"type": "chat.pinned", "seq": 11, "message": pinned}])
    assert state["pinnedChat"] == pinned
    # Deleting another line leaves the pinned one.
    state = fold(page, [{"type": "chat.deleted", "seq": 12, "id": "m1"}], state)
    assert state["pinnedChat"] == pinned
    assert fold(page, [{"type": "chat.unpinned", "seq": 13}], state)["pinnedChat"] is None


def test_the_show_going_live_and_ending(page: Page) -> None:
    scheduled = welcome(room={**ROOM, "state": "scheduled"})
    live = fold(page, [scheduled, {"type": "room.state", "seq": 11, "state": "live", "at": 1}])
    assert live["room"]["state"] == "live"
    assert live["you"]["can_chat"] is True
    ended = fold(page, [{"type": "room.state", "seq": 12, "state": "ended", "at": 2}], live)
    assert ended["room"]["state"] == "ended"
    assert ended["you"]["can_chat"] is False  # nobody chats in an ended show
    assert ended["room"]["title"] == "Spring drop"


def test_the_stream_slow_mode_disclosure_and_moderators_follow_their_events(page: Page) -> None:
    state = fold(
        page,
        [
            welcome(),
            {"type": "stream.state", "seq": 11, "state": "reconnecting", "at": 1},
            {"type": "room.slow", "seq": 12, "seconds": 30, "at": 2},
            {"type": "room.disclosure", "seq": 13, "paid_partnership": True},
            {"type": "room.moderators", "seq": 14, "moderators": ["u7", "u8"]},
        ],
    )
    assert state["room"]["stream"] == "reconnecting"
    assert state["room"]["slow_s"] == 30
    assert state["room"]["paid_partnership"] is True
    assert state["room"]["moderators"] == ["u7", "u8"]
    off = fold(page, [{"type": "room.slow", "seq": 15, "seconds": 0}], state)
    assert off["room"]["slow_s"] == 0


def test_viewers_and_reactions_are_ambient(page: Page) -> None:
    state = fold(
        page,
        [
            welcome(),
            {"type": "viewers", "count": 40},
            {"type": "reactions", "counts": {"heart": 3, "fire": 2}},
            {"type": "viewers", "count": 41},
            {"type": "reactions", "counts": {"heart": 1}},
        ],
    )
    assert state["viewers"] == 41
    assert state["reactions"] == 6
    assert state["seq"] == 10  # no seq: the cursor stays


def test_a_product_pinned_then_unpinned(page: Page) -> None:
    product = {"id": "p1", "title": "Mug", "price": 1500, "currency": "EUR"}
    state = fold(page, [welcome(), {"type": "product.pinned", "seq": 11, "product": product}])
    assert state["pinned"] == product
    assert fold(page, [{"type": "product.unpinned", "seq": 12}], state)["pinned"] is None


def test_a_flash_sale_from_start_to_sold_out(page: Page) -> None:
    state = fold(
        page,
        [
            welcome(),
            {"type": "sale.started", "seq": 11, "sale": sale("s1")},
            {"type": "sale.stock", "sale_id": "s1", "available": 7, "held": 2, "sold": 1},
            {"type": "sale.stock", "sale_id": "s1", "available": 0, "held": 0, "sold": 10},
            {"type": "sale.ended", "seq": 12, "sale_id": "s1", "reason": "sold_out"},
        ],
    )
    assert state["sales"]["s1"] == sale(
        "s1", available=0, held=0, sold=10, state="ended", end_reason="sold_out"
    )
    # Stock and ends of sales the page never heard of change nothing.
    unknown = fold(
        page,
        [
            {"type": "sale.stock", "sale_id": "s9", "available": 1, "held": 0, "sold": 0},
            {"type": "sale.ended", "seq": 13, "sale_id": "s9", "reason": "stopped"},
        ],
        state,
    )
    assert list(unknown["sales"]) == ["s1"]


def test_sales_are_applied_idempotently_by_id(page: Page) -> None:
    # welcome.sales may be a step ahead of the events (docs/protocol.md): a sale.started
    # for a sale the welcome listed, or an ended sale listed again, changes nothing.
    state = fold(
        page,
        [
            welcome(sales=[sale("s1", available=4, held=1, sold=5)]),
            {"type": "sale.started", "seq": 11, "sale": sale("s1", available=4, held=1, sold=5)},
            {"type": "sale.ended", "seq": 12, "sale_id": "s1", "reason": "stopped"},
            {"type": "sale.started", "seq": 13, "sale": sale("s1")},
        ],
    )
    assert state["sales"]["s1"]["state"] == "ended"
    assert state["sales"]["s1"]["end_reason"] == "stopped"
    assert state["sales"]["s1"]["sold"] == 5
    # A later welcome that still lists it active cannot bring it back; one that no longer lists
    # a running sale drops it, and ended sales stay known.
    later = fold(
        page, [welcome(seq=20, sales=[sale("s1"), sale("s2", starts_at=1_700_000_100_000)])], state
    )
    assert later["sales"]["s1"]["state"] == "ended"
    assert later["sales"]["s2"]["state"] == "active"
    quiet = fold(page, [welcome(seq=30, sales=[])], later)
    assert list(quiet["sales"]) == ["s1"]


def test_what_the_page_learns_itself_is_folded_like_an_event(page: Page) -> None:
    state = fold(page, [welcome(sales=[sale("s1", available=3, held=1, sold=6)])])
    # A hold just made: only the units left are the page's guess until sale.stock comes.
    took = fold(page, [{"type": "sale.stock", "sale_id": "s1", "available": 2}], state)
    assert (took["sales"]["s1"]["available"], took["sales"]["s1"]["held"]) == (2, 1)
    # Time is up by the server's clock; a refusal says the sale is over, keeping its reason.
    over = fold(page, [{"type": "sale.ended", "sale_id": "s1", "reason": "time_up"}], state)
    assert over["sales"]["s1"]["end_reason"] == "time_up"
    refused = fold(page, [{"type": "sale.ended", "sale_id": "s1"}], over)
    assert refused["sales"]["s1"]["end_reason"] == "time_up"
    assert refused["seq"] == 10  # none of these moves the cursor


def test_orders_newest_first_once_each_and_fresher_from_http(page: Page) -> None:
    first = {"id": "o1", "sale_id": "s1", "amount": 1200, "currency": "EUR", "state": "paid",
             "created_at": 1}  # fmt: skip
    second = {**first, "id": "o2", "created_at": 2}
    state = fold(
        page,
        [
            welcome(),
            {"type": "order.created", "order": first},
            {"type": "order.created", "order": second},
            {"type": "order.created", "order": {**first, "state": "ignored"}},
        ],
    )
    assert [(o["id"], o["state"]) for o in state["orders"]] == [("o2", "paid"), ("o1", "paid")]
    refunded = fold(page, [{"type": "orders", "orders": [{**first, "state": "refunded"}]}], state)
    assert [(o["id"], o["state"]) for o in refunded["orders"]] == [
        ("o2", "paid"),
        ("o1", "refunded"),
    ]


def test_a_repeated_or_older_event_changes_nothing(page: Page) -> None:
    state = fold(page, [welcome(), line(11, "m11", "one"), line(12, "m12", "two")])
    # A resume that replays what the page has already seen (an overlap, or an old event).
    again = fold(
        page,
        [
            {"type": "chat.deleted", "seq": 11, "id": "m11"},
            {"type": "room.state", "seq": 12, "state": "ended"},
            {"type": "product.pinned", "seq": 5, "product": {"id": "p9"}},
        ],
        state,
    )
    assert again == state


def test_an_event_past_a_gap_is_not_folded(page: Page) -> None:
    state = fold(page, [welcome(), line(11, "m11", "one")])
    assert sequence(page, state["seq"], line(13, "m13", "three")) == "gap"
    assert fold(page, [line(13, "m13", "three")], state) == state
    # Once the missing event is there (the resume), the rest follows.
    resumed = fold(page, [line(12, "m12", "two"), line(13, "m13", "three")], state)
    assert [m["id"] for m in resumed["chat"]] == ["m9", "m11", "m12", "m13"]
    assert resumed["seq"] == 13


def test_replies_and_ambient_messages_never_move_the_cursor(page: Page) -> None:
    assert sequence(page, 10, {"type": "ack", "ref": 3, "seq": 14}) == "apply"
    assert sequence(page, 10, {"type": "error", "ref": 4, "seq": 2}) == "apply"
    assert sequence(page, 10, {"type": "viewers", "count": 2}) == "apply"
    assert sequence(page, 10, {"type": "chat.message", "seq": 10}) == "duplicate"
    assert sequence(page, 10, {"type": "chat.message", "seq": 11}) == "apply"
    assert sequence(page, None, {"type": "chat.message", "seq": 40}) == "apply"
    state = fold(page, [welcome(), {"type": "ack", "ref": 3, "seq": 14}, {"type": "pong"}])
    assert state["seq"] == 10


def test_a_fresh_welcome_after_a_resume_too_old_replaces_the_room(page: Page) -> None:
    state = fold(
        page,
        [welcome(), line(11, "m11", "old"), {"type": "viewers", "count": 9}],
    )
    fresh = fold(
        page,
        [
            welcome(
                seq=50,
                epoch="e2",
                chat=[line(49, "m49", "new")],
                viewers=12,
                you={"id": "u1", "name": "U1", "role": "viewer", "can_chat": False},
            )
        ],
        state,
    )
    assert (fresh["seq"], fresh["epoch"]) == (50, "e2")
    assert [m["id"] for m in fresh["chat"]] == ["m49"]
    assert fresh["viewers"] == 12
    assert fresh["you"]["can_chat"] is False
    # A seq below the new welcome's is old news now.
    assert fold(page, [line(45, "m45", "stale")], fresh) == fresh


def test_unknown_and_malformed_messages_change_nothing(page: Page) -> None:
    state = fold(page, [welcome()])
    notes: list[Event] = [{"type": "mod.action", "entry": {}}, {"type": "unavailable"}]
    assert fold(page, notes, state) == state
    assert page.evaluate(
        """async () => {
          const m = await import('/static/js/room-state.js');
          const s = m.initialState();
          return m.reduce(s, null) === s && m.reduce(s, { seq: 1 }) === s;
        }"""
    )


def test_the_studio_lists_sales_newest_first(page: Page) -> None:
    state = fold(
        page,
        [
            welcome(sales=[sale("s1", starts_at=1), sale("s3", starts_at=3)]),
            {"type": "sale.started", "seq": 11, "sale": sale("s2", starts_at=2)},
        ],
    )
    newest: list[str] = page.evaluate(
        """async (state) => (await import('/static/js/room-state.js'))
          .salesNewestFirst(state).map((s) => s.id)""",
        state,
    )
    assert newest == ["s3", "s2", "s1"]
