"""Moderation rules: who may act on whom, what each tool takes, and what the audit keeps.

Plain data and functions, no I/O: the gateway and the HTTP routes parse requests into a
``ModRequest``, ask ``check_rights`` whether this person may do it to that person in this
room, and hand the request to the store. The same rules hold whichever edge a tool is used
from, which is what lets a moderator's rights end everywhere the moment they are removed:
the store is asked for the room afresh on every tool use.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final

from livecommerce.errors import BadRequest, Forbidden
from livecommerce.rooms.rules import Role, Room

TIMEOUT_MAX_S: Final = 7 * 24 * 3600
SLOW_MAX_S: Final = 600
REASON_MAX: Final = 200
NOTE_MAX: Final = 300
ID_MAX: Final = 64


class ModAction(enum.StrEnum):
    DELETE = "mod.delete"
    TIMEOUT = "mod.timeout"
    BAN = "mod.ban"
    UNBAN = "mod.unban"
    UNTIMEOUT = "mod.untimeout"  # lift a time-out before it runs out
    SLOW = "mod.slow"
    PIN_CHAT = "mod.pin_chat"
    UNPIN_CHAT = "mod.unpin_chat"
    WORDS = "mod.words"
    APPOINT = "mod.appoint"
    REMOVE = "mod.remove"
    RESOLVE = "mod.resolve"


# Tools aimed at a person: the person must be someone a moderator may act on.
ON_A_PERSON: Final = frozenset(
    {ModAction.TIMEOUT, ModAction.UNTIMEOUT, ModAction.BAN, ModAction.UNBAN}
)
# Tools only the host (or an operator) may use: who moderates is the host's call.
HOST_ONLY: Final = frozenset({ModAction.APPOINT, ModAction.REMOVE})


class ReportReason(enum.StrEnum):
    SPAM = "spam"
    HARASSMENT = "harassment"
    HATE = "hate"
    SCAM = "scam"
    SEXUAL = "sexual"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ModRequest:
    """One use of a moderation tool; fields a tool does not take stay at their defaults."""

    action: ModAction
    message_id: str = ""
    user_id: str = ""
    report_id: str = ""
    seconds: int = 0
    reason: str = ""
    words: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReportRequest:
    message_id: str
    reason: ReportReason
    note: str = ""


def as_text(message: dict[str, Any], name: str, limit: int, *, required: bool) -> str:
    value = message.get(name)
    if value is None:
        if required:
            raise BadRequest(f"field {name!r} is missing")
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"field {name!r} must be a string")
    value = value.strip()
    if required and not value:
        raise BadRequest(f"field {name!r} must not be empty")
    if len(value) > limit:
        raise BadRequest(f"field {name!r} is longer than {limit}")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise BadRequest(f"field {name!r} must not contain control characters")
    return value


def _seconds(message: dict[str, Any], low: int, high: int) -> int:
    value = message.get("seconds")
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest("field 'seconds' must be an integer")
    if not low <= value <= high:
        raise BadRequest(f"field 'seconds' must be between {low} and {high}")
    return value


def parse_mod_request(message: dict[str, Any]) -> ModRequest:
    """A tool use from a socket command or an HTTP body (``type`` names the tool)."""
    try:
        action = ModAction(str(message.get("type")))
    except ValueError:
        raise BadRequest(f"unknown moderation tool {str(message.get('type'))[:40]!r}") from None
    reason = as_text(message, "reason", REASON_MAX, required=False)
    if action in (ModAction.DELETE, ModAction.PIN_CHAT):
        return ModRequest(action, message_id=as_text(message, "message_id", ID_MAX, required=True),
                          reason=reason)  # fmt: skip
    if action is ModAction.TIMEOUT:
        user = as_text(message, "user_id", ID_MAX, required=True)
        return ModRequest(action, user_id=user, seconds=_seconds(message, 1, TIMEOUT_MAX_S),
                          reason=reason)  # fmt: skip
    if action in (
        ModAction.BAN,
        ModAction.UNBAN,
        ModAction.UNTIMEOUT,
        ModAction.APPOINT,
        ModAction.REMOVE,
    ):
        return ModRequest(action, user_id=as_text(message, "user_id", ID_MAX, required=True),
                          reason=reason)  # fmt: skip
    if action is ModAction.SLOW:
        return ModRequest(action, seconds=_seconds(message, 0, SLOW_MAX_S), reason=reason)
    if action is ModAction.WORDS:
        words = message.get("words")
        if not isinstance(words, list):
            raise BadRequest("field 'words' must be a list of strings")
        if not all(isinstance(w, str) for w in words):
            raise BadRequest("field 'words' must be a list of strings")
        return ModRequest(action, words=tuple(words), reason=reason)
    if action is ModAction.RESOLVE:
        return ModRequest(action, report_id=as_text(message, "report_id", ID_MAX, required=True),
                          reason=reason)  # fmt: skip
    return ModRequest(action, reason=reason)  # UNPIN_CHAT takes nothing


def parse_report(message: dict[str, Any]) -> ReportRequest:
    message_id = as_text(message, "message_id", ID_MAX, required=True)
    try:
        reason = ReportReason(str(message.get("reason")))
    except ValueError:
        choices = ", ".join(r.value for r in ReportReason)
        raise BadRequest(f"field 'reason' must be one of {choices}") from None
    return ReportRequest(message_id, reason, as_text(message, "note", NOTE_MAX, required=False))


def check_rights(room: Room, actor_id: str, request: ModRequest, *, admin: bool = False) -> None:
    """Refuse (``Forbidden``) what this person may not do in this room, and to that person.

    The host and operators may do everything; a moderator every tool but appointing, and
    never to the host or to another moderator; a viewer nothing. Nobody acts on themselves.
    """
    role = room.role_of(actor_id)
    if not admin and role not in (Role.HOST, Role.MODERATOR):
        raise Forbidden("only the room's host or a moderator may do that")
    if request.action in HOST_ONLY and not admin and role is not Role.HOST:
        raise Forbidden("only the room's host appoints or removes moderators")
    if request.action in ON_A_PERSON:
        if request.user_id == actor_id:
            raise Forbidden("you cannot do that to yourself")
        target = room.role_of(request.user_id)
        if target is Role.HOST:
            raise Forbidden("nobody can do that to the room's host")
        if target is Role.MODERATOR and not admin and role is not Role.HOST:
            raise Forbidden("only the host can do that to a moderator")


def audit_entry(
    actor: dict[str, str], request: ModRequest, at: int, **details: Any
) -> dict[str, Any]:
    """What the audit log keeps of one action: who, what, whom, when, and why if given."""
    entry: dict[str, Any] = {"at": at, "actor": actor, "action": request.action.value}
    target = {k: v for k, v in (("user_id", request.user_id), ("message_id", request.message_id),
                                ("report_id", request.report_id)) if v}  # fmt: skip
    if target:
        entry["target"] = target
    if request.action in (ModAction.TIMEOUT, ModAction.SLOW):
        entry["seconds"] = request.seconds
    if request.reason:
        entry["reason"] = request.reason
    entry.update(details)
    return entry
