"""Room rules: the state machine, roles and what a valid room is."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from livecommerce.errors import BadRequest, Conflict, Forbidden
from livecommerce.rooms.rules import (
    Role,
    Room,
    RoomState,
    parse_room_draft,
    room_from_hash,
    room_to_hash,
)


def a_room(**changes: Any) -> Room:
    base = Room(
        id="r_1", title="Drop", host_id="u_host", host_name="Ada", currency="EUR", locale="en",
        created_at=1_000, epoch="e1", moderators=("u_mod",),
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
