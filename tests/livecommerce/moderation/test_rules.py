"""The moderation rules on their own: who may act on whom, what a tool takes, what is kept."""

from __future__ import annotations

from typing import Any

import pytest

from livecommerce.accounts.privacy import DELETED_USER, anonymise, authors
from livecommerce.errors import BadRequest, Forbidden
from livecommerce.moderation.rules import (
    ModAction,
    ModRequest,
    ReportReason,
    audit_entry,
    check_rights,
    parse_mod_request,
    parse_report,
)
from livecommerce.realtime.feed import without_deleted
from livecommerce.rooms.rules import Room
from livecommerce.runtime.ids import RoomId

ROOM = Room(
    id=RoomId("r_1"), title="Knitwear", host_id="u_host", host_name="Ada", currency="EUR",
    locale="en", created_at=0, moderators=("u_mod", "u_mod2"),
)  # fmt: skip


def ban(user: str) -> ModRequest:
    return ModRequest(ModAction.BAN, user_id=user)


@pytest.mark.parametrize(
    ("actor", "request_", "admin", "allowed"),
    [
        ("u_host", ban("u_viewer"), False, True),
        ("u_mod", ban("u_viewer"), False, True),
        ("u_viewer", ban("u_other"), False, False),  # viewers have no tools
        ("u_mod", ban("u_host"), False, False),  # nobody acts on the host
        ("u_host", ban("u_host"), False, False),  # nor on themselves
        ("u_mod", ban("u_mod2"), False, False),  # a moderator cannot ban a peer
        ("u_host", ban("u_mod"), False, True),  # the host can
        ("u_op", ban("u_mod"), True, True),  # and so can an operator
        ("u_mod", ModRequest(ModAction.APPOINT, user_id="u_x"), False, False),
        ("u_host", ModRequest(ModAction.APPOINT, user_id="u_x"), False, True),
        ("u_op", ModRequest(ModAction.REMOVE, user_id="u_mod"), True, True),
        ("u_mod", ModRequest(ModAction.SLOW, seconds=10), False, True),
        ("u_viewer", ModRequest(ModAction.DELETE, message_id="m_1"), False, False),
        ("u_mod", ModRequest(ModAction.DELETE, message_id="m_1"), False, True),
    ],
)
def test_who_may_act_on_whom(actor: str, request_: ModRequest, admin: bool, allowed: bool) -> None:
    if allowed:
        check_rights(ROOM, actor, request_, admin=admin)
    else:
        with pytest.raises(Forbidden):
            check_rights(ROOM, actor, request_, admin=admin)


def test_a_tool_command_reads_into_a_request_and_trims_its_reason() -> None:
    parsed = parse_mod_request(
        {"type": "mod.timeout", "user_id": "u_1", "seconds": 600, "reason": "  caps lock  "}
    )
    assert parsed == ModRequest(ModAction.TIMEOUT, user_id="u_1", seconds=600, reason="caps lock")
    words = parse_mod_request({"type": "mod.words", "words": ["a", "b"]})
    assert words.words == ("a", "b")
    assert parse_mod_request({"type": "mod.unpin_chat"}).action is ModAction.UNPIN_CHAT


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ({"type": "mod.nope"}, "unknown moderation tool"),
        ({"type": "mod.ban", "user_id": 7}, "must be a string"),
        ({"type": "mod.ban", "user_id": "u\n1"}, "control characters"),
        ({"type": "mod.ban", "user_id": "u_1", "reason": "x" * 201}, "longer than 200"),
        ({"type": "mod.timeout", "user_id": "u_1", "seconds": True}, "must be an integer"),
        ({"type": "mod.slow", "seconds": 601}, "between 0 and 600"),
    ],
)
def test_a_bad_tool_command_names_its_problem(message: dict[str, object], problem: str) -> None:
    with pytest.raises(BadRequest, match=problem):
        parse_mod_request(message)


def test_a_report_takes_a_known_reason_and_a_short_note() -> None:
    report = parse_report({"message_id": "m_1", "reason": "scam", "note": " phishing "})
    assert (report.reason, report.note) == (ReportReason.SCAM, "phishing")
    with pytest.raises(BadRequest, match="longer than 300"):
        parse_report({"message_id": "m_1", "reason": "spam", "note": "x" * 301})


def test_the_audit_keeps_who_what_whom_when_and_why() -> None:
    entry = audit_entry(
        {"id": "u_mod", "name": "Mo"},
        ModRequest(ModAction.TIMEOUT, user_id="u_1", seconds=60, reason="spam"),
        1_000,
        until=61_000,
    )
    assert entry == {
        "at": 1_000, "actor": {"id": "u_mod", "name": "Mo"}, "action": "mod.timeout",
        "target": {"user_id": "u_1"}, "seconds": 60, "reason": "spam", "until": 61_000,
    }  # fmt: skip


def test_a_catch_up_leaves_out_the_lines_deleted_within_it() -> None:
    events = [
        {"type": "chat.message", "id": "m_1", "seq": 1},
        {"type": "chat.message", "id": "m_2", "seq": 2},
        {"type": "chat.deleted", "id": "m_1", "seq": 3},
    ]
    assert [e["seq"] for e in without_deleted(events)] == [2, 3]
    assert without_deleted(events[:2]) == events[:2]


def test_a_deleted_persons_lines_and_pinned_line_lose_their_author_only() -> None:
    line: dict[str, Any] = {"type": "chat.message", "id": "m_1",
                            "user": {"id": "u_gone", "name": "Kari"}, "text": "hi"}  # fmt: skip
    other = {"type": "chat.message", "id": "m_2", "user": {"id": "u_here", "name": "Ola"}}
    pinned = {"type": "chat.pinned", "message": {"id": "m_1", "user": {"id": "u_gone"}}}
    assert authors([line, other, pinned]) == {"u_gone", "u_here"}
    out = anonymise([line, other, pinned], {"u_gone"})
    assert out[0]["user"] == DELETED_USER
    assert out[0]["text"] == "hi"
    assert out[1] == other
    assert out[2]["message"]["user"] == DELETED_USER
    assert line["user"]["name"] == "Kari"  # the originals are not changed in place
