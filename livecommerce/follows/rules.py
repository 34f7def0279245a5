"""Follows, reminders and show notices, with no I/O: ids, the calendar file, the webhooks.

A person follows a creator (not a show) and asks to be reminded of a show (not a creator);
a show's audience for the merchant's notifications is both, each person once. Two webhooks
tell the merchant when to notify them (``show.reminder`` a lead before ``scheduled_at``, and
``show.live`` when the show goes live); each is one event per show, with an id derived from
the show, so a notice sent again after a crash is the same event to the receiver.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from icalendar import Alarm, Calendar
from icalendar import Event as CalendarEvent

from livecommerce.errors import BadRequest, Conflict, NotFound
from livecommerce.rooms.rules import Room, RoomState

# Ids come from paths: an account id, a merchant's "m:<sub>" (a sub is the merchant's own
# string), a room id. Anything with a hash tag's braces, a space, a control or non-ASCII
# character, a path's or URL's delimiters, or over 140 characters names nobody.
_ID = re.compile(r"[!-~]{1,140}")
_NOT_IN_IDS = frozenset('{}/?#%\\"')
AUDIENCE_PAGE_MAX = 500
FOLLOWING_PAGE_MAX = 100
PROFILE_SHOWS = 50  # the creator's newest shows read for a profile
PAST_SHOWS = 10
# A reminder for a show that should have started this long ago, and has not, is noise.
REMINDER_STALE_MS = 60 * 60_000
SHOW_LENGTH_MS = 60 * 60_000  # what a calendar says a show lasts: it has no planned end


class CannotFollowSelf(BadRequest):
    """A creator following their own account: nobody's count may be padded that way."""

    code: ClassVar[str] = "cannot_follow_self"
    title: ClassVar[str] = "You cannot follow yourself"


class ShowEnded(Conflict):
    """A reminder asked for a show that has ended: there is nothing left to remind of."""

    code: ClassVar[str] = "show_ended"
    title: ClassVar[str] = "The show has ended"


class Notice(enum.StrEnum):
    REMINDER = "reminder"
    LIVE = "live"

    @property
    def event_type(self) -> str:
        return f"show.{self}"


def valid_id(raw: str, what: str) -> str:
    """An id from a path, or ``NotFound`` for one that cannot name anything."""
    if not _ID.fullmatch(raw) or not _NOT_IN_IDS.isdisjoint(raw):
        raise NotFound(f"{what} does not exist")
    return raw


# Notices -----------------------------------------------------------------------------------


def notice_member(room_id: str, notice: Notice) -> str:
    return f"{room_id} {notice}"


def parse_notice_member(member: str) -> tuple[str, Notice] | None:
    room_id, _, kind = member.partition(" ")
    try:
        return room_id, Notice(kind)
    except ValueError:
        return None


def reminder_due(room: Room, lead_ms: int) -> int | None:
    """When a scheduled show's reminder is due, or None for a show with no time set."""
    if room.state is not RoomState.SCHEDULED or room.scheduled_at is None:
        return None
    return room.scheduled_at - lead_ms


def should_send(notice: Notice, room: Room, now: int, lead_ms: int) -> bool | int:
    """Whether a claimed notice goes out now (True), is dropped (False), or waits until the
    time returned (the show was rescheduled later since it was queued).

    A reminder goes only for a show still scheduled and not long overdue; a live notice only
    for a show still live (one that ended before the notice was sent is news to nobody).
    """
    if notice is Notice.LIVE:
        return room.state is RoomState.LIVE
    due = reminder_due(room, lead_ms)
    if due is None:
        return False
    if due > now:
        return due
    assert room.scheduled_at is not None
    return now - room.scheduled_at <= REMINDER_STALE_MS


def notice_event_id(room_id: str, notice: Notice) -> str:
    """The one event id of a show's notice: the same however often it is sent."""
    digest = hashlib.blake2b(f"{room_id} {notice}".encode(), digest_size=12).hexdigest()
    return f"evt_{digest}"


def show_url(base_url: str, room_id: str) -> str:
    return f"{base_url.rstrip('/')}/rooms/{room_id}"


def creator_url(base_url: str, creator_id: str) -> str:
    return f"{base_url.rstrip('/')}/creators/{creator_id}"


def notice_payload(
    notice: Notice, room: Room, base_url: str, followers: int, reminders: int
) -> dict[str, Any]:
    """The ``data`` of a ``show.reminder`` or ``show.live`` webhook (docs/follows.md)."""
    base = base_url.rstrip("/")
    return {
        "room": {
            "id": room.id,
            "title": room.title,
            "state": str(room.state),
            "scheduled_at": room.scheduled_at,
            "started_at": room.started_at,
            "url": show_url(base, room.id),
        },
        "creator": {
            "id": room.host_id,
            "name": room.host_name,
            "url": creator_url(base, room.host_id),
        },
        "followers": followers,
        "reminders": reminders,
        "audience": {
            "url": f"{base}/api/v1/rooms/{room.id}/audience",
            "description": "followers and people who asked to be reminded, each once",
        },
    }


# The audience, page by page ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AudienceCursor:
    """Where a walk through a show's audience is: first the creator's followers, then those
    who asked to be reminded and do not follow (``phase`` "f" then "r"), each an SSCAN."""

    phase: str = "f"
    position: int = 0

    def __str__(self) -> str:
        return f"{self.phase}{self.position}"

    @classmethod
    def parse(cls, raw: str | None) -> AudienceCursor:
        if not raw:
            return cls()
        phase, position = raw[:1], raw[1:]
        if phase not in ("f", "r") or not position.isdigit() or len(position) > 20:
            raise BadRequest("'cursor' is not one this server gave")
        return cls(phase, int(position))


# The calendar file ---------------------------------------------------------------------------


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def calendar(room: Room, base_url: str, now: int, *, alarm_min: int = 15) -> bytes:
    """An iCalendar file (RFC 5545) with the show as one event, to add to a calendar.

    The UID is the room's, so adding it twice updates one entry; the title and description
    are the creator's text, which the library escapes (commas, semicolons, new lines).
    """
    start = room.scheduled_at or room.started_at or now
    end = room.ended_at if room.ended_at and room.ended_at > start else start + SHOW_LENGTH_MS
    url = show_url(base_url, room.id)
    cal = Calendar()
    cal.add("prodid", "-//livecommerce//shows//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = CalendarEvent()
    event.add("uid", f"{room.id}@livecommerce")
    event.add("dtstamp", _utc(now))
    event.add("dtstart", _utc(start))
    event.add("dtend", _utc(end))
    event.add("summary", room.title)
    description = f"{room.host_name} live: {url}"
    if room.description:
        description = f"{room.description}\n\n{description}"
    event.add("description", description)
    event.add("url", url)
    event.add("location", url)
    event.add("status", "CANCELLED" if room.state is RoomState.ENDED else "CONFIRMED")
    if room.state is RoomState.SCHEDULED and alarm_min > 0:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", room.title)
        alarm.add("trigger", timedelta(minutes=-alarm_min))
        event.add_component(alarm)
    cal.add_component(event)
    return bytes(cal.to_ical())


def calendar_filename(room: Room) -> str:
    """A file name for the download: the title's safe letters, never a path or a header."""
    stem = re.sub(r"[^A-Za-z0-9]+", "-", room.title).strip("-")[:60] or "show"
    return f"{stem}.ics"
