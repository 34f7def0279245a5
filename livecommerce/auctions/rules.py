"""Live auctions, as plain data: increments, proxy bids, anti-sniping and the hammer.

A bid names the most the bidder will pay (their max); the engine bids for them by the
increment up to it, as Whatnot and eBay do. So the price is always the second-highest max
plus one increment, capped at the leader's max (and raised to a reserve the leader's max
meets), and a tie goes to whoever bid that max first. ``Lot`` holds exactly what decides
that: the leader, their max and the runner-up's max; ``bid`` is a pure step from one ``Lot``
to the next, so the Lua script that applies bids atomically and the model test that proves it
share one definition.

Amounts are integers in the currency's minor units; the increment table is in major units of
the room's currency, as bidders read prices.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from livecommerce.currencies import AMOUNT_MAX, MINOR_UNITS
from livecommerce.errors import BadRequest
from livecommerce.numbers import whole_field

MIN_DURATION_S = 5
MAX_DURATION_S = 300
MAX_EXTEND_S = 60
DEFAULT_EXTEND_S = 10


class Mode(enum.StrEnum):
    STANDARD = "standard"  # a late bid extends the lot (anti-sniping)
    SUDDEN_DEATH = "sudden_death"  # the clock never moves: the last bid before it wins


class Refusal(enum.StrEnum):
    """Why a bid was not taken; each is the wire error code the bidder gets."""

    TOO_LOW = "bid_too_low"
    NOT_ACTIVE = "auction_not_active"


class Outcome(enum.StrEnum):
    SOLD = "sold"
    NO_BIDS = "no_bids"
    RESERVE_NOT_MET = "reserve_not_met"
    CANCELLED = "cancelled"


class AuctionState(enum.StrEnum):
    QUEUED = "queued"  # on the run sheet: pre-bids taken, no clock yet
    ACTIVE = "active"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Increments:
    """Price bands: below ``upto`` major units (None: any price above), bids rise by ``step``."""

    bands: tuple[tuple[int | None, int], ...]

    @classmethod
    def whatnot(cls) -> Increments:
        return cls(((30, 1), (50, 2), (100, 3), (300, 5), (1_000, 10), (2_000, 20), (None, 50)))

    @classmethod
    def parse(cls, spec: str) -> Increments:
        """``"30:1,50:2,*:5"``: the server setting, and what the Lua scripts are given."""
        bands: list[tuple[int | None, int]] = []
        for part in spec.split(","):
            upto, sep, step = part.strip().partition(":")
            if not sep or not step.isdigit() or int(step) < 1:
                raise ValueError(f"increment band {part!r} is not <upto>:<step>")
            if upto == "*":
                bands.append((None, int(step)))
                break
            if not upto.isdigit() or (bands and int(upto) <= (bands[-1][0] or 0)):
                raise ValueError(f"increment band {part!r}: bounds must rise")
            bands.append((int(upto), int(step)))
        if not bands or bands[-1][0] is not None:
            raise ValueError("the last increment band must be *:<step>")
        return cls(tuple(bands))

    def spec(self) -> str:
        return ",".join(f"{'*' if upto is None else upto}:{step}" for upto, step in self.bands)

    def step(self, price: int, currency: str) -> int:
        """The increment above ``price`` (minor units) in ``currency``, in minor units."""
        unit: int = 10 ** MINOR_UNITS[currency]
        for upto, step in self.bands:
            if upto is None or price < upto * unit:
                return step * unit
        raise ValueError("the last band must have no upper bound")


@dataclass(frozen=True, slots=True)
class Lot:
    """One auction's price state; ``leader`` is None until the first bid."""

    currency: str
    starting_bid: int
    reserve: int = 0
    leader: str | None = None
    leader_max: int = 0
    runner_up_max: int = 0  # 0: nobody else has bid
    price: int = 0

    def next_bid(self, increments: Increments) -> int:
        """The least a new bid may offer: the starting bid, then the price plus one step."""
        if self.leader is None:
            return self.starting_bid
        return min(AMOUNT_MAX, self.price + increments.step(self.price, self.currency))

    def outcome(self) -> Outcome:
        if self.leader is None:
            return Outcome.NO_BIDS
        if self.leader_max < self.reserve:
            return Outcome.RESERVE_NOT_MET
        return Outcome.SOLD


@dataclass(frozen=True, slots=True)
class Bid:
    """A bid taken: the lot after it, and who lost the lead by it (told privately)."""

    lot: Lot
    outbid: str | None


def bid(lot: Lot, bidder: str, amount: int, increments: Increments) -> Bid | Refusal:
    """Apply ``bidder``'s max of ``amount`` to ``lot``: the next lot, or why not.

    The leader raising their own max moves the price only where their old max held it down
    (or a reserve now met lifts it); anyone else must offer at least ``next_bid``.
    """
    if bidder == lot.leader:
        if amount <= lot.leader_max:
            return Refusal.TOO_LOW
        return Bid(_priced(replace(lot, leader_max=amount), increments), None)
    if amount < lot.next_bid(increments):
        return Refusal.TOO_LOW
    if lot.leader is None:
        return Bid(_priced(replace(lot, leader=bidder, leader_max=amount), increments), None)
    if amount > lot.leader_max:
        new = replace(lot, leader=bidder, leader_max=amount, runner_up_max=lot.leader_max)
        return Bid(_priced(new, increments), lot.leader)
    return Bid(_priced(replace(lot, runner_up_max=amount), increments), None)


def _priced(lot: Lot, increments: Increments) -> Lot:
    """The price the maxes make: the runner-up's max plus one step, at most the leader's max;
    the starting bid with no runner-up; never under a reserve the leader's max meets."""
    if lot.runner_up_max == 0:
        price = lot.starting_bid
    else:
        step = increments.step(lot.runner_up_max, lot.currency)
        price = min(lot.leader_max, lot.runner_up_max + step)
    if lot.reserve and lot.leader_max >= lot.reserve:
        price = max(price, lot.reserve)
    return replace(lot, price=price)


def ends_at_after_bid(mode: Mode, ends_at: int, now: int, extend_s: int) -> int:
    """Standard lots extend to ``now + extend_s`` when a bid comes with less than that left,
    so a bid in the last second never wins by leaving nobody time to answer."""
    if mode is Mode.SUDDEN_DEATH:
        return ends_at
    return max(ends_at, now + extend_s * 1000)


@dataclass(frozen=True, slots=True)
class AuctionDraft:
    product_id: str
    starting_bid: int
    duration_s: int
    mode: Mode
    extend_s: int
    reserve: int


def parse_auction_draft(body: Mapping[str, Any]) -> AuctionDraft:
    """``auction.start`` as the host sends it; every field bounded, every number an integer."""
    product_id = body.get("product_id")
    if not isinstance(product_id, str) or not 0 < len(product_id) <= 64:
        raise BadRequest("field 'product_id' must be a product id")
    mode = body.get("mode", Mode.STANDARD.value)
    if not isinstance(mode, str) or mode not in Mode.__members__.values():
        raise BadRequest("field 'mode' must be 'standard' or 'sudden_death'")
    starting_bid = whole_field(body, "starting_bid", 1, AMOUNT_MAX)
    reserve = whole_field(body, "reserve_price", 0, AMOUNT_MAX, default=0)
    if reserve and reserve < starting_bid:
        raise BadRequest("field 'reserve_price' must be at least the starting bid")
    return AuctionDraft(
        product_id=product_id,
        starting_bid=starting_bid,
        duration_s=whole_field(body, "duration_s", MIN_DURATION_S, MAX_DURATION_S),
        mode=Mode(mode),
        extend_s=whole_field(body, "extend_s", 1, MAX_EXTEND_S, default=DEFAULT_EXTEND_S),
        reserve=reserve,
    )


def parse_bid_amount(value: object) -> int:
    """A bid's amount: a positive integer in minor units, never a float or a string."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest("field 'amount' must be a whole number")
    if not 1 <= value <= AMOUNT_MAX:
        raise BadRequest(f"field 'amount' must be between 1 and {AMOUNT_MAX}")
    return value


def winning_price(
    maxes: Sequence[tuple[str, int]], lot: Lot, increments: Increments
) -> tuple[str, int] | None:
    """The closed form the bids must come to: the highest max (the earliest of equal ones)
    at the runner-up's max plus one step, at most its own, at least a reserve it meets.
    ``maxes`` are each bidder's latest accepted max, in the order those were placed."""
    if not maxes:
        return None
    winner, top = max(maxes, key=lambda entry: entry[1])  # max keeps the first of equals
    others = [amount for who, amount in maxes if who != winner]
    final = replace(lot, leader=winner, leader_max=top, runner_up_max=max(others, default=0))
    return winner, _priced(final, increments).price


@dataclass(frozen=True, slots=True)
class Auction:
    """A lot as stored (``store/keys.auction_hash``): what it sells and where its price is."""

    id: str
    room_id: str
    host_id: str
    product_id: str
    title: str
    image_url: str
    currency: str
    starting_bid: int
    reserve: int
    duration_s: int
    mode: Mode
    extend_s: int
    state: AuctionState
    queued_at: int
    starts_at: int = 0
    ends_at: int = 0
    leader: str = ""
    leader_name: str = ""
    leader_max: int = 0
    runner_up: str = ""
    runner_up_name: str = ""
    runner_up_max: int = 0
    price: int = 0
    bids: int = 0
    end_reason: str = ""
    winner: str = ""
    winner_name: str = ""
    amount: int = 0
    order_id: str = ""
    second_chance: str = ""

    def lot(self) -> Lot:
        return Lot(
            currency=self.currency,
            starting_bid=self.starting_bid,
            reserve=self.reserve,
            leader=self.leader or None,
            leader_max=self.leader_max,
            runner_up_max=self.runner_up_max,
            price=self.price,
        )

    @property
    def reserve_met(self) -> bool:
        return self.reserve == 0 or bool(self.leader and self.leader_max >= self.reserve)

    def card(self) -> dict[str, Any]:
        """What never changes once queued; the Lua scripts build events on it."""
        return {
            "id": self.id,
            "room_id": self.room_id,
            "product_id": self.product_id,
            "title": self.title,
            "image_url": self.image_url,
            "currency": self.currency,
            "starting_bid": self.starting_bid,
            "duration_s": self.duration_s,
            "mode": str(self.mode),
            "extend_s": self.extend_s,
        }

    def to_hash(self) -> dict[str, str]:
        fields = {name: getattr(self, name) for name in _HASH_FIELDS}
        fields["card"] = json.dumps(self.card(), separators=(",", ":"))
        fields["unit"] = 10 ** MINOR_UNITS[self.currency]  # the increments are in major units
        return {name: str(value) for name, value in fields.items()}

    def to_public(self, increments: Increments) -> dict[str, Any]:
        """As ``public`` in ``_auction.lua`` makes it, plus the result once it has ended."""
        result: dict[str, Any] | None = None
        if self.state is AuctionState.ENDED:
            result = {"reason": self.end_reason}
            if self.winner:
                result["winner"] = {"id": self.winner, "name": self.winner_name}
                result["amount"] = self.amount
                result["order_id"] = self.order_id
        return {
            **self.card(),
            "state": str(self.state),
            "current_bid": self.price,
            "high_bidder": {"id": self.leader, "name": self.leader_name} if self.leader else None,
            "next_bid": self.lot().next_bid(increments),
            "bids": self.bids,
            "reserve_met": self.reserve_met,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "result": result,
        }


_HASH_FIELDS = (
    "id", "room_id", "host_id", "product_id", "currency", "starting_bid", "reserve",
    "duration_s", "mode", "extend_s", "state", "queued_at", "starts_at", "ends_at", "leader",
    "leader_name", "leader_max", "runner_up", "runner_up_name", "runner_up_max", "price", "bids",
)  # fmt: skip
_NUMBERS = {
    "starting_bid", "reserve", "duration_s", "extend_s", "queued_at", "starts_at", "ends_at",
    "leader_max", "runner_up_max", "price", "bids", "amount",
}  # fmt: skip


def auction_from_hash(fields: Mapping[str, str]) -> Auction:
    card = json.loads(fields["card"])
    values: dict[str, Any] = {}
    for name in Auction.__dataclass_fields__:
        if name in ("title", "image_url"):
            values[name] = card[name]
        elif name in fields:
            raw = fields[name]
            values[name] = int(raw or 0) if name in _NUMBERS else raw
    values["mode"] = Mode(values["mode"])
    values["state"] = AuctionState(values["state"])
    return Auction(**values)


def bid_key(value: object) -> str:
    """A bid's idempotency key: 1 to 128 characters, never the separator of its stored key."""
    if not isinstance(value, str) or not 0 < len(value) <= 128 or "|" in value:
        raise BadRequest("field 'key' must be 1 to 128 characters without '|'")
    return value
