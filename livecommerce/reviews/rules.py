"""Reviews as plain data: what a review may say, who may write one, and the ratings it adds to.

A review belongs to one (order, product) pair: only the order's buyer writes it, only while
the order stands paid (an order awaiting payment, lapsed or refunded has nothing to rate), and
a second write for the same pair edits the first. Each review carries two ratings, the
product's and the seller's, and each adds to an aggregate: a sum, a count and how many of
each star. ``Rating.step`` is the one definition of how a create, an edit or a delete moves
an aggregate; the Lua scripts apply the same step atomically and the model test checks the
two agree with a recount.

Moderation keeps the rating and drops the words: a text the seller or an operator hides is
no longer shown, but its stars still count, since the purchase they rate was real.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from livecommerce.errors import BadCharacters, BadRating, BadRequest, ReviewTooLong

TEXT_MAX = 1000
STARS = (1, 2, 3, 4, 5)
PAGE_MAX = 50
# Order states whose buyer may rate what they bought; "refunded" is read from its own key.
REVIEWABLE = frozenset({"paid", "fulfilled", "delivered"})
_ALLOWED_FORMAT = frozenset("\u200c\u200d\ufe0f\ufe0e")  # joiners and emoji selectors


@dataclass(frozen=True, slots=True)
class ReviewDraft:
    product_rating: int
    seller_rating: int
    text: str = ""


def _rating(body: Mapping[str, Any], name: str) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value not in STARS:
        raise BadRating(f"'{name}' must be a whole number from 1 to 5")
    return value


def clean_review_text(value: object) -> str:
    """The text as stored: NFC, trimmed, at most ``TEXT_MAX`` characters, no control
    characters (refused rather than stripped, so the writer learns why). Empty is fine."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest("'text' must be a string")
    text = unicodedata.normalize("NFC", value).strip()
    if len(text) > TEXT_MAX:
        raise ReviewTooLong(f"the review text is longer than {TEXT_MAX} characters")
    for char in text:
        category = unicodedata.category(char)
        if char in "\n\t":  # a review may have paragraphs
            continue
        if category in ("Cc", "Cs", "Co", "Cn") or (
            category == "Cf" and char not in _ALLOWED_FORMAT
        ):
            raise BadCharacters(f"the review text holds a control character U+{ord(char):04X}")
    return text


def parse_review_draft(body: object) -> ReviewDraft:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return ReviewDraft(
        product_rating=_rating(body, "product_rating"),
        seller_rating=_rating(body, "seller_rating"),
        text=clean_review_text(body.get("text")),
    )


def reviewable(state: str) -> bool:
    return state in REVIEWABLE


def pair(order_id: str, product_id: str) -> str:
    """The one review an (order, product) may have is found under this."""
    return f"{order_id} {product_id}"


def average(total: int, count: int) -> float:
    """The mean to one decimal, halves rounded up (4.25 -> 4.3), in integers: no float drift."""
    if count <= 0:
        return 0.0
    tenths = (total * 20 + count) // (2 * count)
    return tenths / 10


@dataclass(frozen=True, slots=True)
class Rating:
    """An aggregate of star ratings: ``counts[i]`` is how many gave ``i + 1`` stars."""

    total: int = 0
    count: int = 0
    counts: tuple[int, ...] = field(default=(0, 0, 0, 0, 0))

    def step(self, old: int | None, new: int | None) -> Rating:
        """A review's rating goes from ``old`` to ``new`` (None: no review): create, edit or
        delete; ``review_put.lua`` and ``review_delete.lua`` do exactly this."""
        counts = list(self.counts)
        total, count = self.total, self.count
        if old is not None:
            total, count = total - old, count - 1
            counts[old - 1] -= 1
        if new is not None:
            total, count = total + new, count + 1
            counts[new - 1] += 1
        return Rating(total, count, tuple(counts))

    @classmethod
    def recount(cls, ratings: list[int]) -> Rating:
        return cls(sum(ratings), len(ratings), tuple(ratings.count(s) for s in STARS))

    @classmethod
    def from_hash(cls, raw: Mapping[str, str]) -> Rating:
        """From the stored hash (fields ``sum``, ``count``, ``1`` .. ``5``)."""
        return cls(
            int(raw.get("sum", 0)),
            int(raw.get("count", 0)),
            tuple(int(raw.get(str(s), 0)) for s in STARS),
        )

    @property
    def average(self) -> float:
        return average(self.total, self.count)

    def summary(self) -> dict[str, Any]:
        """What a product card shows."""
        return {"average": self.average, "count": self.count}

    def to_public(self) -> dict[str, Any]:
        """With the distribution: ``{"1": n, ..., "5": n}``."""
        return {**self.summary(), "distribution": {str(s): self.counts[s - 1] for s in STARS}}


def public_review(review: Mapping[str, Any], deleted: bool = False) -> dict[str, Any]:
    """A review as anyone reads it: a hidden text is not shown, a deleted reviewer is nobody;
    who reported it is the moderators' business."""
    out = {
        "id": review["id"],
        "product_id": review["product_id"],
        "seller_id": review["seller_id"],
        "reviewer": {"id": "deleted", "name": ""} if deleted else review["reviewer"],
        "product_rating": review["product_rating"],
        "seller_rating": review["seller_rating"],
        "text": "" if review.get("hidden") else review.get("text", ""),
        "hidden": bool(review.get("hidden")),
        "created_at": review["created_at"],
        "updated_at": review.get("updated_at", review["created_at"]),
    }
    return out


def may_moderate(seller_id: str, user_id: str, *, admin: bool) -> bool:
    """A review's text is hidden by the seller it rates or by an operator."""
    return admin or user_id == seller_id


def parse_cursor(raw: str | None) -> int:
    """A page cursor: how many reviews the earlier pages held."""
    if raw is None or raw == "":
        return 0
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise BadRequest("'cursor' is not one this server gave")
    return int(raw)
