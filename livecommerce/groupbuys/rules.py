"""Group buys (Pinduoduo's team purchase), as plain data.

A host offers ``units`` of a product at a group price below its list price, valid for
everyone who joins if at least ``min_buyers`` join before the deadline. A join holds one
unit and authorises the joiner's card without taking the money. The group fills when the
``min_buyers``-th authorisation is recorded: every authorisation is then captured and
becomes a paid order. Later joiners keep joining at the group price until the deadline or
until the units run out, and each later join is captured at once. A deadline that comes
before the group fills voids every authorisation and returns every unit.

Group states and their guarded transitions::

    open --fill--> filled --deadline | sold out | stop--> ended (reason filled|sold_out|stopped)
    open --deadline--> expired
    open --stop--> stopped

A join's states::

    pending --authorised--> authorised --captured--> captured
                                       \\-capture declined--> capture_failed (unit back)
                                       \\-void--> voided (unit back)
    pending --declined--> declined (unit back)
    pending --group closed first--> cancelled (unit back; any authorisation made is voided)

What an authorised join meets is decided by the group alone (``fate``): waiting while the
group is open, captured once it has filled (even if it ended since), voided if it closed
without filling. The units always add up: ``available + pending + authorised + captured ==
units`` until the end, when what is left goes back to the product's stock.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from livecommerce.currencies import AMOUNT_MAX
from livecommerce.errors import BadRequest, PriceNotBelowList
from livecommerce.numbers import whole_field

MIN_BUYERS = (2, 100)
MAX_UNITS = 1000
DURATION_S = (60, 3600)


class GroupState(enum.StrEnum):
    OPEN = "open"
    FILLED = "filled"
    ENDED = "ended"  # had filled; the reason says why it closed
    EXPIRED = "expired"  # the deadline came before it filled
    STOPPED = "stopped"  # the host stopped it before it filled

    @property
    def joinable(self) -> bool:
        return self in (GroupState.OPEN, GroupState.FILLED)

    @property
    def final(self) -> bool:
        return not self.joinable


class EndReason(enum.StrEnum):
    FILLED = "filled"
    EXPIRED = "expired"
    STOPPED = "stopped"
    SOLD_OUT = "sold_out"


_MOVES: dict[GroupState, frozenset[GroupState]] = {
    GroupState.OPEN: frozenset({GroupState.FILLED, GroupState.EXPIRED, GroupState.STOPPED}),
    GroupState.FILLED: frozenset({GroupState.ENDED}),
    GroupState.ENDED: frozenset(),
    GroupState.EXPIRED: frozenset(),
    GroupState.STOPPED: frozenset(),
}


class IllegalTransition(ValueError):
    pass


def advance(state: GroupState, to: GroupState) -> GroupState:
    """``to`` if a group may go there from ``state``; else ``IllegalTransition``."""
    if to not in _MOVES[state]:
        raise IllegalTransition(f"a group buy cannot go from {state} to {to}")
    return to


def closing(state: GroupState, reason: EndReason) -> GroupState:
    """Where a group goes when it closes for ``reason``: it ended if it had filled."""
    if state is GroupState.FILLED:
        return advance(state, GroupState.ENDED)
    if reason is EndReason.STOPPED:
        return advance(state, GroupState.STOPPED)
    return advance(state, GroupState.EXPIRED)


def end_reason(state: GroupState, reason: EndReason) -> EndReason:
    """What ``groupbuy.ended`` says: a filled group that runs out of time ended ``filled``."""
    if state is GroupState.FILLED and reason is EndReason.EXPIRED:
        return EndReason.FILLED
    return reason


class JoinState(enum.StrEnum):
    PENDING = "pending"
    AUTHORISED = "authorised"
    CAPTURED = "captured"
    CAPTURE_FAILED = "capture_failed"
    VOIDED = "voided"
    DECLINED = "declined"
    CANCELLED = "cancelled"

    @property
    def holds_unit(self) -> bool:
        return self in (JoinState.PENDING, JoinState.AUTHORISED, JoinState.CAPTURED)


class Fate(enum.StrEnum):
    WAIT = "wait"
    CAPTURE = "capture"
    VOID = "void"


def fate(state: GroupState, filled_at: int) -> Fate:
    """What happens to an authorised join now: the group's outcome decides for everyone."""
    if filled_at > 0:
        return Fate.CAPTURE
    if state is GroupState.OPEN:
        return Fate.WAIT
    return Fate.VOID


@dataclass(frozen=True, slots=True)
class GroupBuyDraft:
    product_id: str
    price: int
    min_buyers: int
    units: int
    duration_s: int


def parse_group_buy_draft(body: Mapping[str, Any]) -> GroupBuyDraft:
    """``groupbuy.start`` as the host sends it; every field bounded, every number an integer."""
    product_id = body.get("product_id")
    if not isinstance(product_id, str) or not 0 < len(product_id) <= 64:
        raise BadRequest("field 'product_id' must be a product id")
    price = whole_field(body, "price", 1, AMOUNT_MAX)
    min_buyers = whole_field(body, "min_buyers", *MIN_BUYERS)
    units = whole_field(body, "units", 1, MAX_UNITS)
    if units < min_buyers:
        raise BadRequest("field 'units' must be at least 'min_buyers': everyone gets one")
    return GroupBuyDraft(
        product_id=product_id,
        price=price,
        min_buyers=min_buyers,
        units=units,
        duration_s=whole_field(body, "duration_s", *DURATION_S),
    )


def check_price(price: int, list_price: int) -> None:
    if price >= list_price:
        raise PriceNotBelowList(
            f"the group price must be below the list price of {list_price}",
            list_price=list_price,
        )


@dataclass(frozen=True, slots=True)
class Progress:
    """What "2 of 3 joined, 04:12 left" is made of."""

    joined: int
    min_buyers: int
    units_left: int
    ends_at: int

    def seconds_left(self, now: int) -> int:
        return max(0, (self.ends_at - now + 999) // 1000)

    @property
    def needed(self) -> int:
        return max(0, self.min_buyers - self.joined)


@dataclass(frozen=True, slots=True)
class GroupBuy:
    """A group buy as stored (``keys.groupbuy_hash``)."""

    id: str
    room_id: str
    host_id: str
    product_id: str
    title: str
    image_url: str
    currency: str
    price: int
    list_price: int
    min_buyers: int
    units: int
    duration_s: int
    state: GroupState
    starts_at: int
    ends_at: int
    available: int
    pending: int = 0
    authorised: int = 0
    captured: int = 0
    filled_at: int = 0
    end_reason: str = ""
    ended_at: int = 0
    returned: int = 0  # 1 once the unsold units are back in the product's stock

    @property
    def joined(self) -> int:
        """Joins that count towards filling: their card is authorised or paid."""
        return self.authorised + self.captured

    def progress(self) -> Progress:
        return Progress(self.joined, self.min_buyers, self.available, self.ends_at)

    def card(self) -> dict[str, Any]:
        """What never changes once started; the Lua scripts build events on it."""
        return {
            "id": self.id,
            "room_id": self.room_id,
            "product": {
                "id": self.product_id,
                "title": self.title,
                "image_url": self.image_url,
            },
            "price": self.price,
            "list_price": self.list_price,
            "currency": self.currency,
            "min_buyers": self.min_buyers,
            "units": self.units,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
        }

    def to_public(self) -> dict[str, Any]:
        return {
            **self.card(),
            "state": str(self.state),
            "joined": self.joined,
            "units_left": self.available,
            "filled_at": self.filled_at or None,
            "end_reason": self.end_reason or None,
            "ended_at": self.ended_at or None,
        }

    def to_hash(self) -> dict[str, str]:
        fields = {name: getattr(self, name) for name in _HASH_FIELDS}
        fields["card"] = json.dumps(self.card(), separators=(",", ":"))
        return {name: str(value) for name, value in fields.items()}


_HASH_FIELDS = (
    "id", "room_id", "host_id", "product_id", "currency", "price", "list_price", "min_buyers",
    "units", "duration_s", "state", "starts_at", "ends_at", "available", "pending",
    "authorised", "captured", "filled_at", "end_reason", "ended_at", "returned",
)  # fmt: skip
_NUMBERS = {
    "price", "list_price", "min_buyers", "units", "duration_s", "starts_at", "ends_at",
    "available", "pending", "authorised", "captured", "filled_at", "ended_at", "returned",
}  # fmt: skip


def group_from_hash(fields: Mapping[str, str]) -> GroupBuy:
    card = json.loads(fields["card"])
    values: dict[str, Any] = {
        "title": card["product"]["title"],
        "image_url": card["product"]["image_url"],
    }
    for name in GroupBuy.__dataclass_fields__:
        if name in fields:
            raw = fields[name]
            values[name] = int(raw or 0) if name in _NUMBERS else raw
    values["state"] = GroupState(values["state"])
    return GroupBuy(**values)


@dataclass(frozen=True, slots=True)
class Join:
    """One person's join as stored (JSON in the group's joins hash)."""

    id: str
    group_id: str
    user_id: str
    name: str
    state: JoinState
    amount: int
    currency: str
    created_at: int
    auth_key: str  # the provider's idempotency key of its authorisation
    fp: str = ""  # what a retry with the same Idempotency-Key must repeat
    auth_ref: str = ""
    order_id: str = ""
    told: int = 0  # 1 once the joiner heard how it ended (captured, voided, ...)
    shipping: dict[str, str] | None = None
    card: dict[str, Any] | None = None
    decline_code: str = ""
    left: int = 0  # 1 when the joiner left before the group filled

    def to_public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "group_id": self.group_id,
            "state": str(self.state),
            "amount": self.amount,
            "currency": self.currency,
            "order_id": self.order_id or None,
            "created_at": self.created_at,
        }


def join_from_json(raw: str | bytes) -> Join:
    data = json.loads(raw)
    known = {k: v for k, v in data.items() if k in Join.__dataclass_fields__}
    known["state"] = JoinState(known["state"])
    return Join(**known)
