"""Rooms: what a show is, which states it moves through, and who may do what in it."""

from __future__ import annotations

import enum
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from livecommerce import events
from livecommerce.currencies import CURRENCIES
from livecommerce.errors import BadRequest, Conflict, Forbidden, RoomNotLive
from livecommerce.runtime.ids import RoomId
from livecommerce.text import clean_line, clean_paragraphs

TITLE_MAX = 120
DESCRIPTION_MAX = 2000
_LOCALE = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8}){0,3}$")


class RoomState(enum.StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


class Role(enum.StrEnum):
    HOST = "host"
    MODERATOR = "moderator"
    VIEWER = "viewer"
    GUEST = "guest"


_TRANSITIONS = {
    RoomState.SCHEDULED: {RoomState.LIVE, RoomState.ENDED},
    RoomState.LIVE: {RoomState.ENDED},
    RoomState.ENDED: set(),
}


@dataclass(frozen=True, slots=True)
class Room:
    id: RoomId
    title: str
    host_id: str
    host_name: str
    currency: str
    locale: str
    created_at: int
    description: str = ""
    state: RoomState = RoomState.SCHEDULED
    scheduled_at: int | None = None
    started_at: int | None = None
    ended_at: int | None = None
    epoch: str = ""
    moderators: tuple[str, ...] = field(default=())
    slow_s: int = 0  # written by moderation (mod_apply.lua), never by room_to_hash
    paid_partnership: bool = False
    stream: str = "offline"  # written by the media plane, never by room_to_hash

    def to_public(self) -> dict[str, Any]:
        data = asdict(self)
        data["host"] = {"id": data.pop("host_id"), "name": data.pop("host_name")}
        data["state"] = str(self.state)
        data["moderators"] = list(self.moderators)
        del data["epoch"]
        return data

    def role_of(self, user_id: str | None) -> Role:
        if user_id is None:
            return Role.GUEST
        if user_id == self.host_id:
            return Role.HOST
        if user_id in self.moderators:
            return Role.MODERATOR
        return Role.VIEWER

    def transition(self, to: RoomState, now: int) -> Room:
        """The room in state ``to``, or ``Conflict`` when the state machine forbids it."""
        if to not in _TRANSITIONS[self.state]:
            raise Conflict(f"a {self.state} room cannot become {to}")
        if to is RoomState.LIVE:
            return replace(self, state=to, started_at=now)
        return replace(self, state=to, ended_at=now)

    def require_host(self, user_id: str | None) -> None:
        if user_id is None or user_id != self.host_id:
            raise Forbidden("only the room's host may do that")

    def require_open(self) -> None:
        """Nothing new starts in an ended show: no stream, no pin."""
        if self.state is RoomState.ENDED:
            raise RoomNotLive("the show has ended")


def state_event(to: RoomState, now: int) -> events.RoomState:
    """What everyone in the room hears when it goes live or ends."""
    return events.RoomState(type="room.state", state=str(to), at=now)


@dataclass(frozen=True, slots=True)
class RoomDraft:
    title: str
    currency: str
    locale: str
    description: str
    scheduled_at: int | None
    paid_partnership: bool = False

    def to_room(
        self,
        room_id: RoomId,
        host_id: str,
        host_name: str,
        now: int,
        epoch: str,
        moderators: tuple[str, ...] = (),
    ) -> Room:
        """A new show, scheduled, hosted by its creator; ids and time come from the caller."""
        return Room(
            id=room_id,
            title=self.title,
            host_id=host_id,
            host_name=host_name,
            currency=self.currency,
            locale=self.locale,
            created_at=now,
            description=self.description,
            scheduled_at=self.scheduled_at,
            epoch=epoch,
            moderators=moderators,
            paid_partnership=self.paid_partnership,
        )


def parse_room_draft(body: object, now: int) -> RoomDraft:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    title = clean_line(body.get("title"), "title", TITLE_MAX)
    currency = body.get("currency")
    if not isinstance(currency, str) or currency not in CURRENCIES:
        raise BadRequest("'currency' must be an ISO 4217 code such as EUR")
    locale = body.get("locale", "en")
    if not isinstance(locale, str) or not _LOCALE.match(locale):
        raise BadRequest("'locale' must be a BCP 47 tag such as en or nb-NO")
    description = clean_paragraphs(body.get("description", ""), "description", DESCRIPTION_MAX)
    scheduled_at = body.get("scheduled_at")
    if scheduled_at is not None and (
        not isinstance(scheduled_at, int)
        or isinstance(scheduled_at, bool)
        or not 0 <= scheduled_at < 2**53
    ):
        raise BadRequest("'scheduled_at' must be epoch milliseconds")
    return RoomDraft(
        title, currency, locale, description, scheduled_at, parse_disclosure(body, False)
    )


def parse_disclosure_change(body: object, current: bool) -> bool:
    """A request to change only the disclosure must say what it becomes."""
    if not isinstance(body, dict) or "paid_partnership" not in body:
        raise BadRequest("the body must be an object with 'paid_partnership'")
    return parse_disclosure(body, current)


def parse_disclosure(body: dict[str, Any], default: bool) -> bool:
    """Whether the show is a paid partnership, which the viewer page must say."""
    value = body.get("paid_partnership", default)
    if not isinstance(value, bool):
        raise BadRequest("'paid_partnership' must be true or false")
    return value


def room_from_hash(data: dict[str, str]) -> Room:
    def opt(name: str) -> int | None:
        value = data.get(name, "")
        return int(value) if value else None

    mods = data.get("moderators", "")
    return Room(
        id=RoomId(data["id"]),
        title=data["title"],
        host_id=data["host_id"],
        host_name=data["host_name"],
        currency=data["currency"],
        locale=data["locale"],
        created_at=int(data["created_at"]),
        description=data.get("description", ""),
        state=RoomState(data["state"]),
        scheduled_at=opt("scheduled_at"),
        started_at=opt("started_at"),
        ended_at=opt("ended_at"),
        epoch=data.get("epoch", ""),
        moderators=tuple(m for m in mods.split(",") if m),
        slow_s=int(data.get("slow_s") or 0),
        paid_partnership=data.get("paid_partnership") == "1",
        stream=data.get("stream") or "offline",
    )


def room_to_hash(room: Room) -> dict[str, str]:
    return {
        "id": room.id,
        "title": room.title,
        "host_id": room.host_id,
        "host_name": room.host_name,
        "currency": room.currency,
        "locale": room.locale,
        "created_at": str(room.created_at),
        "description": room.description,
        "state": str(room.state),
        "scheduled_at": "" if room.scheduled_at is None else str(room.scheduled_at),
        "started_at": "" if room.started_at is None else str(room.started_at),
        "ended_at": "" if room.ended_at is None else str(room.ended_at),
        "epoch": room.epoch,
        "moderators": ",".join(room.moderators),
        "paid_partnership": "1" if room.paid_partnership else "",
    }
