"""The pure parts of follows: ids, the calendar file, when a notice goes, what it says."""

from __future__ import annotations

from dataclasses import replace

import pytest
from icalendar import Calendar

from livecommerce.errors import BadRequest, NotFound
from livecommerce.follows.rules import (
    REMINDER_STALE_MS,
    AudienceCursor,
    Notice,
    calendar,
    calendar_filename,
    notice_event_id,
    notice_member,
    notice_payload,
    parse_notice_member,
    reminder_due,
    should_send,
    valid_id,
)
from livecommerce.rooms.rules import Room, RoomState
from livecommerce.runtime.ids import RoomId

NOW = 1_800_000_000_000
LEAD = 15 * 60_000
SHOW = Room(
    id=RoomId("r_show1"),
    title="Autumn knitwear",
    host_id="u_kari",
    host_name="Kari",
    currency="EUR",
    locale="en",
    created_at=NOW - 86_400_000,
    scheduled_at=NOW + 3_600_000,
)


@pytest.mark.parametrize("raw", ["u_abc", "m:shop-42", "r_x.y@z", "m:ann+shop@example.com"])
def test_ids_from_paths_that_can_name_someone(raw: str) -> None:
    assert valid_id(raw, "creator") == raw


@pytest.mark.parametrize(
    "raw", ["", "a}b", "{r:x}", "a b", "x\n", "a" * 141, "é", "a/b", "a%2Fb", 'a"b', "a\\b"]
)
def test_hostile_ids_name_nobody(raw: str) -> None:
    with pytest.raises(NotFound):
        valid_id(raw, "creator")


def test_a_reminder_is_due_a_lead_before_the_show_and_only_for_a_scheduled_one() -> None:
    assert reminder_due(SHOW, LEAD) == SHOW.scheduled_at - LEAD  # type: ignore[operator]
    assert reminder_due(replace(SHOW, scheduled_at=None), LEAD) is None
    assert reminder_due(replace(SHOW, state=RoomState.LIVE), LEAD) is None


def test_a_claimed_reminder_goes_waits_or_is_dropped_by_the_show_as_it_is_then() -> None:
    start = SHOW.scheduled_at
    assert start is not None
    assert should_send(Notice.REMINDER, SHOW, start - LEAD, LEAD) is True
    assert should_send(Notice.REMINDER, SHOW, start - LEAD - 5, LEAD) == start - LEAD
    assert should_send(Notice.REMINDER, SHOW, start + REMINDER_STALE_MS, LEAD) is True
    assert should_send(Notice.REMINDER, SHOW, start + REMINDER_STALE_MS + 1, LEAD) is False
    for state in (RoomState.LIVE, RoomState.ENDED):
        assert should_send(Notice.REMINDER, replace(SHOW, state=state), start, LEAD) is False


def test_a_live_notice_goes_only_while_the_show_is_live() -> None:
    assert should_send(Notice.LIVE, replace(SHOW, state=RoomState.LIVE), NOW, LEAD) is True
    assert should_send(Notice.LIVE, replace(SHOW, state=RoomState.ENDED), NOW, LEAD) is False
    assert should_send(Notice.LIVE, SHOW, NOW, LEAD) is False


def test_notice_members_round_trip_and_junk_is_refused() -> None:
    for notice in Notice:
        assert parse_notice_member(notice_member("r_1", notice)) == ("r_1", notice)
    assert parse_notice_member("r_1 party") is None
    assert parse_notice_member("garbage") is None


def test_each_notice_of_a_show_has_one_event_id_however_often_it_is_made() -> None:
    first = notice_event_id("r_1", Notice.REMINDER)
    assert first == notice_event_id("r_1", Notice.REMINDER)
    assert first.startswith("evt_")
    assert len(first) == 4 + 24
    others = {notice_event_id("r_1", Notice.LIVE), notice_event_id("r_2", Notice.LIVE)}
    assert len({first, *others}) == 3


def test_the_payload_names_the_show_the_creator_the_counts_and_the_audience() -> None:
    data = notice_payload(Notice.REMINDER, SHOW, "https://shop.example/", 120, 35)
    assert data == {
        "room": {
            "id": "r_show1",
            "title": "Autumn knitwear",
            "state": "scheduled",
            "scheduled_at": SHOW.scheduled_at,
            "started_at": None,
            "url": "https://shop.example/rooms/r_show1",
        },
        "creator": {"id": "u_kari", "name": "Kari", "url": "https://shop.example/creators/u_kari"},
        "followers": 120,
        "reminders": 35,
        "audience": {
            "url": "https://shop.example/api/v1/rooms/r_show1/audience",
            "description": "followers and people who asked to be reminded, each once",
        },
    }


def test_audience_cursors_round_trip_and_forged_ones_are_refused() -> None:
    assert AudienceCursor.parse(None) == AudienceCursor("f", 0)
    for cursor in (AudienceCursor("f", 17), AudienceCursor("r", 0)):
        assert AudienceCursor.parse(str(cursor)) == cursor
    for forged in ("x1", "f", "f-1", "r1e3", "f" + "9" * 21):
        with pytest.raises(BadRequest):
            AudienceCursor.parse(forged)


def test_the_calendar_file_holds_the_show_with_a_stable_uid_and_an_alarm() -> None:
    text = calendar(SHOW, "https://shop.example", NOW)
    assert b"\r\n" in text
    parsed = Calendar.from_ical(text)
    (event,) = parsed.walk("VEVENT")
    assert str(event["uid"]) == "r_show1@livecommerce"
    assert str(event["summary"]) == "Autumn knitwear"
    assert str(event["url"]) == "https://shop.example/rooms/r_show1"
    assert event.decoded("dtstart").timestamp() * 1000 == SHOW.scheduled_at
    assert event.decoded("dtend").timestamp() * 1000 == SHOW.scheduled_at + 3_600_000  # type: ignore[operator]
    (alarm,) = event.walk("VALARM")
    assert alarm.decoded("trigger").total_seconds() == -15 * 60
    assert calendar(SHOW, "https://shop.example", NOW + 5).count(b"UID:") == 1


def test_a_hostile_title_stays_text_in_the_calendar_and_the_file_name() -> None:
    title = 'Sale; 50%, "now"\nEND:VEVENT\nBEGIN:VEVENT\nSUMMARY:pwned'
    hostile = replace(SHOW, title=title, description="line one\nURL:https://evil.example")
    text = calendar(hostile, "https://shop.example", NOW)
    parsed = Calendar.from_ical(text)
    (event,) = parsed.walk("VEVENT")  # one event: the title could not open another
    assert str(event["summary"]) == title
    assert str(event["url"]) == "https://shop.example/rooms/r_show1"
    assert "evil" not in text.decode().split("DESCRIPTION", 1)[0]
    assert calendar_filename(hostile) == "Sale-50-now-END-VEVENT-BEGIN-VEVENT-SUMMARY-pwned.ics"
    assert calendar_filename(replace(SHOW, title="«»")) == "show.ics"


def test_an_ended_show_is_a_cancelled_entry_without_an_alarm() -> None:
    ended = replace(SHOW, state=RoomState.ENDED, started_at=NOW, ended_at=NOW + 600_000)
    (event,) = Calendar.from_ical(calendar(ended, "https://x", NOW)).walk("VEVENT")
    assert str(event["status"]) == "CANCELLED"
    assert not event.walk("VALARM")
