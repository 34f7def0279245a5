"""A deleted account's chat lines and bids stay in the room's history, without the person.

Room history is an append-only stream that cannot be rewritten in place, and the lines give
other people's replies their sense, so the lines stay and the author goes: wherever chat is
read back (a welcome, a resume, the moderators' tools), a deleted author's id and name are
replaced; the same holds for the bidders and winners of auction lots and the people on a
quiz's leaderboard. Orders are not touched:
the merchant keeps them, as the law that requires them says.
"""

from __future__ import annotations

from livecommerce.events import Event

DELETED_USER: dict[str, str] = {"id": "deleted", "name": ""}


# Where a person appears in what is read back: a chat line's author, a lot's bidders and
# winner; nested in a pinned line's ``message`` and a lot's ``result``.
PERSON_FIELDS = ("user", "bidder", "winner", "high_bidder", "placed_by")
NESTED = ("message", "result")
LISTS = ("leaderboard",)  # lists of records that each name a person (a quiz's right answers)


def _people(item: dict[str, object]) -> list[str]:
    found = []
    for name in PERSON_FIELDS:
        person = item.get(name)
        if isinstance(person, dict) and isinstance(person.get("id"), str):
            found.append(person["id"])
    return found


def authors(events: list[Event]) -> set[str]:
    """The people named in these events or records, to ask the store which are deleted."""
    found: set[str] = set()
    for event in events:
        found.update(_people(event))
        for name in NESTED:
            inner = event.get(name)
            if isinstance(inner, dict):
                found.update(_people(inner))
        for name in LISTS:
            inner = event.get(name)
            if isinstance(inner, list):
                for row in inner:
                    if isinstance(row, dict):
                        found.update(_people(row))
    return found


def _without(item: dict[str, object], deleted: set[str]) -> dict[str, object]:
    changed = {}
    for name in PERSON_FIELDS:
        person = item.get(name)
        if isinstance(person, dict) and person.get("id") in deleted:
            changed[name] = DELETED_USER
    return {**item, **changed} if changed else item


def anonymise(events: list[Event], deleted: set[str]) -> list[Event]:
    """The events with every deleted person shown as nobody."""
    if not deleted:
        return events
    out = []
    for event in events:
        event = _without(event, deleted)
        for name in NESTED:
            inner = event.get(name)
            if isinstance(inner, dict):
                event = {**event, name: _without(inner, deleted)}
        for name in LISTS:
            inner = event.get(name)
            if isinstance(inner, list):
                rows = [_without(r, deleted) if isinstance(r, dict) else r for r in inner]
                event = {**event, name: rows}
        out.append(event)
    return out
