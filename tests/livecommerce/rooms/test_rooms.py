"""Room rules: the state machine, roles and what a valid room is."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from livecommerce.errors import BadRequest, Conflict, Forbidden, RoomNotLive
from livecommerce.rooms.rules import (
    Role,
    Room,
    RoomDraft,
    RoomState,
    parse_disclosure_change,
    parse_room_draft,
    room_from_hash,
    room_to_hash,
    state_event,
)
from livecommerce.runtime.ids import RoomId


def a_room(**changes: Any) -> Room:
    base = Room(
        id=RoomId("r_1"), title="Drop", host_id="u_host", host_name="Ada", currency="EUR",
        locale="en", created_at=1_000, epoch="e1", moderators=("u_mod",),
    )  # fmt: skip
    return replace(base, **changes)


def test_a_show_goes_scheduled_live_ended_and_no_further() -> None:
    room = a_room()
    live = room.transition(RoomState.LIVE, now=2_000)
    assert (live.state, live.started_at) == (RoomState.LIVE, 2_000)
    ended = live.transition(RoomState.ENDED, now=3_000)
    assert (ended.state, ended.ended_at) == (RoomState.ENDED, 3_000)
    for target in RoomState:
        with pytest.raises(Conflict):
            ended.transition(target, now=4_000)
    with pytest.raises(Conflict):
        live.transition(RoomState.SCHEDULED, now=4_000)


def test_a_scheduled_show_can_be_cancelled() -> None:
    assert a_room().transition(RoomState.ENDED, now=5).state is RoomState.ENDED


def test_roles_follow_the_room() -> None:
    room = a_room()
    assert room.role_of("u_host") is Role.HOST
    assert room.role_of("u_mod") is Role.MODERATOR
    assert room.role_of("u_other") is Role.VIEWER
    assert room.role_of(None) is Role.GUEST
    room.require_host("u_host")
    for who in ("u_mod", "u_other", None):
        with pytest.raises(Forbidden):
            room.require_host(who)


def test_rooms_survive_the_trip_through_a_redis_hash() -> None:
    room = a_room(scheduled_at=9_000, description="knits")
    assert room_from_hash(room_to_hash(room)) == room
    public = room.to_public()
    assert public["host"] == {"id": "u_host", "name": "Ada"}
    assert "epoch" not in public


def test_a_valid_draft() -> None:
    draft = parse_room_draft({"title": " Drop ", "currency": "JPY", "locale": "nb-NO"}, now=0)
    assert (draft.title, draft.currency, draft.locale, draft.scheduled_at) == (
        "Drop",
        "JPY",
        "nb-NO",
        None,
    )


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"title": "x"},
        {"title": "x", "currency": "ABC"},
        {"title": True, "currency": "EUR"},
        {"title": "x", "currency": "EUR", "scheduled_at": True},
        {"title": "x", "currency": "EUR", "description": "d" * 2001},
        {"title": "x", "currency": "EUR", "locale": "e"},
        {"title": "two\nlines", "currency": "EUR"},
        {"title": "bidi\u202etrick", "currency": "EUR"},
    ],
)
def test_invalid_drafts(body: object) -> None:
    with pytest.raises(BadRequest):
        parse_room_draft(body, now=0)


def test_an_ended_show_takes_no_new_stream_and_no_new_pin() -> None:
    a_room().require_open()
    a_room(state=RoomState.LIVE).require_open()
    with pytest.raises(RoomNotLive, match="the show has ended"):
        a_room(state=RoomState.ENDED).require_open()


def test_the_room_hears_which_state_its_show_moved_to_and_when() -> None:
    assert state_event(RoomState.LIVE, 7_000) == {
        "type": "room.state",
        "state": "live",
        "at": 7_000,
    }
    assert state_event(RoomState.ENDED, 8_000)["state"] == "ended"


def test_a_draft_becomes_a_scheduled_show_hosted_by_its_creator() -> None:
    draft = RoomDraft("Drop", "NOK", "nb", "knits", scheduled_at=9_000, paid_partnership=True)
    room = draft.to_room(RoomId("r_9"), "u_host", "Ada", 1_000, "e9", moderators=("u_mod",))
    assert room == a_room(
        id="r_9", currency="NOK", locale="nb", description="knits", scheduled_at=9_000,
        epoch="e9", paid_partnership=True,
    )  # fmt: skip
    assert room.state is RoomState.SCHEDULED
    assert draft.to_room(RoomId("r_10"), "u_host", "Ada", 1_000, "e10").moderators == ()


@pytest.mark.parametrize("body", [None, [], {}, {"title": "x"}, {"paid_partnership": "yes"}])
def test_a_disclosure_change_must_say_true_or_false(body: object) -> None:
    with pytest.raises(BadRequest, match="paid_partnership"):
        parse_disclosure_change(body, current=False)


def test_a_disclosure_change_says_what_the_show_becomes() -> None:
    assert parse_disclosure_change({"paid_partnership": True}, current=False) is True
    assert parse_disclosure_change({"paid_partnership": False}, current=True) is False
