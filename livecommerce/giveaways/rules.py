"""Giveaways, as plain data: kinds, states, who may enter and the verifiable draw.

A giveaway runs in a live show for 10 to 300 seconds; viewers present in the room enter with
one tap, once each, and at the end one entrant wins the prize (a unit of the host's product)
as a zero-price order. Nobody, the server included, can pick the winner after the fact:

1. At the start the server draws a secret ``seed`` of 32 random bytes and publishes only
   ``commitment = sha256(seed).hexdigest()``.
2. At the end it publishes the seed and the entrant ids sorted by the bytes of their UTF-8
   encoding; the winner is the entrant at index
   ``int.from_bytes(sha256(seed + b"\\n".join(ids)).digest(), "big") % len(ids)``.

Anyone checks that ``sha256(seed)`` is the commitment and recomputes the index (``draw``;
docs/giveaways.md has the same in a snippet to run). The modulo's bias is below
``n / 2**256``: nothing any number of entrants could notice.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from livecommerce.errors import BadRequest
from livecommerce.numbers import whole_field

MIN_DURATION_S = 10
MAX_DURATION_S = 300
SEED_BYTES = 32


class Kind(enum.StrEnum):
    STANDARD = "standard"  # anyone present may enter
    FOLLOWERS = "followers"  # only people who follow the host
    BUYERS = "buyers"  # people who bought in this show, or anyone by the free entry


class Method(enum.StrEnum):
    """How an entrant qualified; kept with the entry, never weighed by the draw."""

    VIEWER = "viewer"
    FOLLOWER = "follower"
    BUYER = "buyer"
    FREE = "free"  # "no purchase necessary": the equal alternative to buying


class GiveawayState(enum.StrEnum):
    ACTIVE = "active"  # taking entries until ends_at
    DRAWING = "drawing"  # entries closed; the draw is being published (a step, not a wait)
    ENDED = "ended"


class EndReason(enum.StrEnum):
    DRAWN = "drawn"
    NO_ENTRANTS = "no_entrants"
    CANCELLED = "cancelled"


_MOVES: dict[GiveawayState, frozenset[GiveawayState]] = {
    GiveawayState.ACTIVE: frozenset({GiveawayState.DRAWING, GiveawayState.ENDED}),
    GiveawayState.DRAWING: frozenset({GiveawayState.ENDED}),
    GiveawayState.ENDED: frozenset(),
}


def may_move(state: GiveawayState, to: GiveawayState) -> bool:
    """The states a giveaway passes through, as the Lua scripts apply them: a cancel ends an
    active one at once; time up closes its entries (drawing), and the draw ends it."""
    return to in _MOVES[state]


class Refusal(enum.StrEnum):
    """Why an entry was not taken; each is the wire error code the viewer gets."""

    NOT_ACTIVE = "giveaway_not_active"
    STAFF = "giveaway_staff"  # the host and the room's moderators run it; they never enter
    NOT_FOLLOWER = "not_a_follower"
    NOT_BUYER = "not_a_buyer"
    BANNED = "banned"
    GUEST = "unauthorized"


@dataclass(frozen=True, slots=True)
class Entrant:
    """What the service knows of a person asking to enter."""

    signed_in: bool
    staff: bool
    banned: bool
    follows_host: bool
    bought_here: bool
    free_entry: bool


def entry_method(kind: Kind, who: Entrant) -> Method | Refusal:
    """May ``who`` enter a giveaway of ``kind``, and by which method."""
    if not who.signed_in:
        return Refusal.GUEST
    if who.staff:
        return Refusal.STAFF
    if who.banned:
        return Refusal.BANNED
    if kind is Kind.FOLLOWERS:
        return Method.FOLLOWER if who.follows_host else Refusal.NOT_FOLLOWER
    if kind is Kind.BUYERS:
        if who.bought_here:
            return Method.BUYER
        return Method.FREE if who.free_entry else Refusal.NOT_BUYER
    return Method.VIEWER


# The draw --------------------------------------------------------------------------------


def commitment(seed: bytes) -> str:
    return hashlib.sha256(seed).hexdigest()


def sorted_entrants(ids: Sequence[str]) -> list[str]:
    """Entrant ids in the published order: by the bytes of their UTF-8 encoding."""
    return sorted(set(ids), key=lambda i: i.encode("utf-8"))


def draw_index(seed: bytes, entrants: Sequence[str]) -> int:
    """The winner's index in ``entrants``, which must already be sorted and unique."""
    if not entrants:
        raise ValueError("nobody to draw from")
    message = seed + b"\n".join(i.encode("utf-8") for i in entrants)
    return int.from_bytes(hashlib.sha256(message).digest(), "big") % len(entrants)


def draw(seed: bytes, ids: Sequence[str]) -> str | None:
    """The winner among ``ids`` (any order, repeats ignored), or None when nobody entered."""
    entrants = sorted_entrants(ids)
    if not entrants:
        return None
    return entrants[draw_index(seed, entrants)]


def verify(commitment_hex: str, seed_hex: str, entrants: Sequence[str], winner: str | None) -> bool:
    """What anyone can check once a giveaway has ended."""
    try:
        seed = bytes.fromhex(seed_hex)
    except ValueError:
        return False
    if commitment(seed) != commitment_hex or list(entrants) != sorted_entrants(entrants):
        return False
    return draw(seed, entrants) == winner


# Drafts and stored giveaways -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GiveawayDraft:
    product_id: str
    kind: Kind
    duration_s: int


def parse_giveaway_draft(body: Mapping[str, Any]) -> GiveawayDraft:
    """``giveaway.start`` as the host sends it; every field bounded."""
    product_id = body.get("product_id")
    if not isinstance(product_id, str) or not 0 < len(product_id) <= 64:
        raise BadRequest("field 'product_id' must be a product id")
    kind = body.get("kind", Kind.STANDARD.value)
    if not isinstance(kind, str) or kind not in Kind.__members__.values():
        raise BadRequest("field 'kind' must be 'standard', 'followers' or 'buyers'")
    return GiveawayDraft(
        product_id=product_id,
        kind=Kind(kind),
        duration_s=whole_field(body, "duration_s", MIN_DURATION_S, MAX_DURATION_S),
    )


def parse_free_entry(value: object) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadRequest("field 'free_entry' must be true or false")
    return value


@dataclass(frozen=True, slots=True)
class Giveaway:
    """A giveaway as stored (``store/keys.giveaway_hash``); the seed is kept apart."""

    id: str
    room_id: str
    host_id: str
    product_id: str
    title: str
    image_url: str
    currency: str
    kind: Kind
    duration_s: int
    state: GiveawayState
    starts_at: int
    ends_at: int
    commitment: str
    entrants: int = 0
    end_reason: str = ""
    ended_at: int = 0
    winner: str = ""
    winner_name: str = ""
    order_id: str = ""

    def card(self) -> dict[str, Any]:
        """What the Lua scripts build events on: it never changes once started."""
        return {
            "id": self.id,
            "room_id": self.room_id,
            "product": {"id": self.product_id, "title": self.title, "image_url": self.image_url},
            "kind": str(self.kind),
            "duration_s": self.duration_s,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "commitment": self.commitment,
        }

    def to_hash(self) -> dict[str, str]:
        fields: dict[str, Any] = {name: getattr(self, name) for name in _HASH_FIELDS}
        fields["card"] = _json(self.card())
        return {name: str(value) for name, value in fields.items()}

    def to_public(
        self, seed_hex: str | None = None, entrant_ids: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """As everyone reads it; the seed and the entrant list only once it has ended."""
        out: dict[str, Any] = {
            **self.card(),
            "state": str(self.state),
            "entrants": self.entrants,
            "result": None,
        }
        if self.state is GiveawayState.ENDED:
            out["result"] = {
                "reason": self.end_reason,
                "winner": {"id": self.winner, "name": self.winner_name} if self.winner else None,
                "seed": seed_hex,
                "entrant_ids": list(entrant_ids) if entrant_ids is not None else None,
                "ended_at": self.ended_at,
            }
        return out


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


_HASH_FIELDS = (
    "id", "room_id", "host_id", "product_id", "currency", "kind", "duration_s", "state",
    "starts_at", "ends_at", "commitment", "entrants",
)  # fmt: skip
_NUMBERS = {"duration_s", "starts_at", "ends_at", "entrants", "ended_at"}


def giveaway_from_hash(fields: Mapping[str, str]) -> Giveaway:
    card = json.loads(fields["card"])
    values: dict[str, Any] = {
        "title": card["product"]["title"],
        "image_url": card["product"]["image_url"],
    }
    for name in Giveaway.__dataclass_fields__:
        if name in fields:
            raw = fields[name]
            values[name] = int(raw or 0) if name in _NUMBERS else raw
    values["kind"] = Kind(values["kind"])
    values["state"] = GiveawayState(values["state"])
    return Giveaway(**values)
