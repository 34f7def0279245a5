"""A deleted account's chat lines stay in the room's history, without the person.

Room history is an append-only stream that cannot be rewritten in place, and the lines give
other people's replies their sense, so the lines stay and the author goes: wherever chat is
read back (a welcome, a resume, the moderators' tools), a deleted author's id and name are
replaced. Orders are not touched: the merchant keeps them, as the law that requires them
says.
"""

from __future__ import annotations

from livecommerce.events import Event

DELETED_USER: dict[str, str] = {"id": "deleted", "name": ""}


def authors(events: list[Event]) -> set[str]:
    """The people whose lines are in these events, to ask the store which are deleted."""
    found: set[str] = set()
    for event in events:
        line = event.get("message", event) if event.get("type") == "chat.pinned" else event
        user = line.get("user")
        if isinstance(user, dict) and isinstance(user.get("id"), str):
            found.add(user["id"])
    return found


def anonymise(events: list[Event], deleted: set[str]) -> list[Event]:
    """The events with every line by a deleted person shown as by nobody."""
    if not deleted:
        return events
    out = []
    for event in events:
        if event.get("type") == "chat.pinned" and _by(event.get("message"), deleted):
            event = {**event, "message": {**event["message"], "user": DELETED_USER}}
        elif _by(event, deleted):
            event = {**event, "user": DELETED_USER}
        out.append(event)
    return out


def _by(line: object, deleted: set[str]) -> bool:
    if not isinstance(line, dict):
        return False
    user = line.get("user")
    return isinstance(user, dict) and user.get("id") in deleted
