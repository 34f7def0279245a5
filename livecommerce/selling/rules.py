"""Flash sales and holds: what a sale is, what a hold is, and what each refusal means.

The arithmetic of the reservation engine runs atomically in Redis (``store/sale_*.lua``);
this module holds the rules that need no store: validating a sale before it starts, reading
the engine's answers into typed results and mapping each refusal to its one error.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

from livecommerce.currencies import AMOUNT_MAX
from livecommerce.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    HoldExpired,
    HoldReleased,
    LimitExceeded,
    LiveCommerceError,
    NotFound,
    RoomNotLive,
    SaleNotActive,
    SoldOut,
    TooManyHolds,
)
from livecommerce.numbers import whole_field
from livecommerce.runtime.ids import HoldId, SaleId

MAX_UNITS = 1_000_000
MAX_PER_USER = 100
MAX_DURATION_S = 24 * 3600
MIN_HOLD_S, MAX_HOLD_S = 10, 3600
MAX_QUANTITY = MAX_PER_USER
IDEMPOTENCY_KEY_MAX = 128


class SaleState(enum.StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class HoldState(enum.StrEnum):
    HELD = "held"
    CONFIRMED = "confirmed"
    RELEASED = "released"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class SaleDraft:
    product_id: str
    price: int
    units: int
    per_user_limit: int
    duration_s: int
    hold_s: int


def parse_sale_draft(body: dict[str, Any]) -> SaleDraft:
    product_id = body.get("product_id")
    if not isinstance(product_id, str) or not 0 < len(product_id) <= 64:
        raise BadRequest("field 'product_id' must be a product id")
    draft = SaleDraft(
        product_id=product_id,
        price=whole_field(body, "price", 0, AMOUNT_MAX),
        units=whole_field(body, "units", 1, MAX_UNITS),
        per_user_limit=whole_field(body, "per_user_limit", 1, MAX_PER_USER, default=1),
        duration_s=whole_field(body, "duration_s", 5, MAX_DURATION_S, default=300),
        hold_s=whole_field(body, "hold_s", MIN_HOLD_S, MAX_HOLD_S, default=120),
    )
    # Refused here rather than at checkout, where a buyer would be left with a hold no
    # payment can settle. A price of 0 is a giveaway: its orders need no payment.
    if draft.price * draft.per_user_limit > AMOUNT_MAX:
        raise BadRequest(
            f"field 'price' times 'per_user_limit' must be at most {AMOUNT_MAX}:"
            " one buyer's checkout could not be paid"
        )
    return draft


@dataclass(frozen=True, slots=True)
class Sale:
    id: SaleId
    room_id: str
    product_id: str
    title: str
    image_url: str
    price: int
    currency: str
    units: int
    per_user_limit: int
    hold_ms: int
    starts_at: int
    ends_at: int
    state: SaleState
    available: int
    held: int
    sold: int
    end_reason: str = ""

    def to_public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "room_id": self.room_id,
            "product_id": self.product_id,
            "title": self.title,
            "image_url": self.image_url,
            "price": self.price,
            "currency": self.currency,
            "units": self.units,
            "per_user_limit": self.per_user_limit,
            "hold_s": self.hold_ms // 1000,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "state": str(self.state),
            "end_reason": self.end_reason or None,
            "available": self.available,
            "held": self.held,
            "sold": self.sold,
        }

    def to_hash(self) -> dict[str, str]:
        data = {k: str(v) for k, v in self.to_public().items() if v is not None}
        del data["hold_s"]
        data["hold_ms"] = str(self.hold_ms)
        data.pop("end_reason", None)
        return data


def welcome_sales(newest_first: list[Sale], pinned_product_id: str | None) -> list[Sale]:
    """The sales a joiner is told of: every active one, and the pinned product's latest sale
    when it has ended, so a late viewer's card says "Sale ended" or "Sold out" instead of
    showing a price with nothing to press and no reason why."""
    chosen = [s for s in newest_first if s.state is SaleState.ACTIVE]
    if pinned_product_id and not any(s.product_id == pinned_product_id for s in chosen):
        last = next((s for s in newest_first if s.product_id == pinned_product_id), None)
        if last is not None:
            chosen.append(last)
    return chosen


def sale_from_hash(raw: dict[str, str]) -> Sale:
    return Sale(
        id=SaleId(raw["id"]),
        room_id=raw["room_id"],
        product_id=raw["product_id"],
        title=raw.get("title", ""),
        image_url=raw.get("image_url", ""),
        price=int(raw["price"]),
        currency=raw["currency"],
        units=int(raw["units"]),
        per_user_limit=int(raw["per_user_limit"]),
        hold_ms=int(raw["hold_ms"]),
        starts_at=int(raw["starts_at"]),
        ends_at=int(raw["ends_at"]),
        state=SaleState(raw["state"]),
        available=int(raw["available"]),
        held=int(raw["held"]),
        sold=int(raw["sold"]),
        end_reason=raw.get("end_reason", ""),
    )


@dataclass(frozen=True, slots=True)
class Hold:
    id: HoldId
    sale_id: str
    user_id: str
    quantity: int
    expires_at: int
    state: HoldState
    created_at: int
    key: str = ""
    order_id: str = ""
    from_waitlist: bool = False

    @classmethod
    def from_json(cls, raw: str | bytes) -> Hold:
        data = json.loads(raw)
        return cls(
            id=data["id"],
            sale_id=data["sale_id"],
            user_id=data["user_id"],
            quantity=int(data["quantity"]),
            expires_at=int(data["expires_at"]),
            state=HoldState(data["state"]),
            created_at=int(data["created_at"]),
            key=data.get("key") or "",
            order_id=data.get("order_id") or "",
            from_waitlist=bool(data.get("from_waitlist")),
        )

    def to_public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sale_id": self.sale_id,
            "quantity": self.quantity,
            "expires_at": self.expires_at,
            "state": str(self.state),
            "order_id": self.order_id or None,
            "from_waitlist": self.from_waitlist,
        }


@dataclass(frozen=True, slots=True)
class Stock:
    available: int
    held: int
    sold: int


def sale_id_of_hold(hold_id: str) -> SaleId:
    """Hold ids are ``<sale id>.<suffix>``, so a hold leads to its sale without a lookup."""
    sale_id, dot, suffix = hold_id.rpartition(".")
    if not dot or not sale_id or not suffix:
        raise NotFound(f"reservation {hold_id[:80]} does not exist")
    return SaleId(sale_id)


_REFUSALS: dict[str, type[LiveCommerceError]] = {
    "not_found": NotFound,
    "sale_not_active": SaleNotActive,
    "sold_out": SoldOut,
    "limit_exceeded": LimitExceeded,
    "too_many_holds": TooManyHolds,
    "forbidden": Forbidden,
    "hold_expired": HoldExpired,
    "hold_released": HoldReleased,
    "room_not_live": RoomNotLive,
    "conflict": Conflict,
    "not_sold_out": Conflict,
    "already_ended": Conflict,
}

_MESSAGES = {
    "not_found": "no such sale or reservation",
    "sale_not_active": "the sale is not running",
    "sold_out": "sold out",
    "limit_exceeded": "that would take you over the per-buyer limit",
    "too_many_holds": "you hold as many reservations here as one person may; pay or release one",
    "forbidden": "that reservation is someone else's",
    "hold_expired": "the reservation has expired",
    "hold_released": "the reservation was released",
    "room_not_live": "the room is not live",
    "conflict": "that already exists",
    "not_sold_out": "the sale is not sold out; reserve instead",
    "already_ended": "the sale has already ended",
}


def refusal(reason: str) -> LiveCommerceError:
    """The error for a reason the engine gave; one reason, one code."""
    error = _REFUSALS.get(reason, Conflict)
    return error(_MESSAGES.get(reason, reason))


def parse_quantity(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest("field 'quantity' must be a whole number")
    if not 1 <= value <= MAX_QUANTITY:
        raise BadRequest(f"field 'quantity' must be between 1 and {MAX_QUANTITY}")
    return value


def parse_idempotency_key(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not 0 < len(value) <= IDEMPOTENCY_KEY_MAX:
        raise BadRequest(f"field 'key' must be a string of 1 to {IDEMPOTENCY_KEY_MAX}")
    if any(c in value for c in "|\x00"):
        raise BadRequest("field 'key' may not hold '|' or NUL")
    return value
