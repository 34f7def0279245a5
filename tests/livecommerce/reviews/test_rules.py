"""What a review may say, and how its stars add up: pure rules, no server."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecommerce.errors import (
    BadCharacters,
    BadRating,
    BadRequest,
    LiveCommerceError,
    ReviewTooLong,
)
from livecommerce.reviews.rules import (
    TEXT_MAX,
    Rating,
    average,
    clean_review_text,
    may_moderate,
    pair,
    parse_cursor,
    parse_review_draft,
    public_review,
    reviewable,
)


def test_a_buyer_gives_two_ratings_and_some_words() -> None:
    draft = parse_review_draft({"product_rating": 5, "seller_rating": 4, "text": "  Warm!  "})
    assert (draft.product_rating, draft.seller_rating, draft.text) == (5, 4, "Warm!")
    bare = parse_review_draft({"product_rating": 1, "seller_rating": 1})
    assert bare.text == ""
    assert parse_review_draft({"product_rating": 3, "seller_rating": 3, "text": None}).text == ""


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ([], BadRequest),
        ({"seller_rating": 5}, BadRating),
        ({"product_rating": 0, "seller_rating": 5}, BadRating),
        ({"product_rating": 6, "seller_rating": 5}, BadRating),
        ({"product_rating": 4.5, "seller_rating": 5}, BadRating),
        ({"product_rating": "5", "seller_rating": 5}, BadRating),
        ({"product_rating": True, "seller_rating": 5}, BadRating),
        ({"product_rating": 5, "seller_rating": -1}, BadRating),
        ({"product_rating": 5, "seller_rating": 5, "text": 7}, BadRequest),
        ({"product_rating": 5, "seller_rating": 5, "text": "x" * (TEXT_MAX + 1)}, ReviewTooLong),
        ({"product_rating": 5, "seller_rating": 5, "text": "fine\x00"}, BadCharacters),
        ({"product_rating": 5, "seller_rating": 5, "text": "a\u202eb"}, BadCharacters),
        ({"product_rating": 5, "seller_rating": 5, "text": "a\ue000"}, BadCharacters),
    ],
)
def test_bad_input_gets_its_own_code(body: Any, error: type[LiveCommerceError]) -> None:
    with pytest.raises(error) as raised:
        parse_review_draft(body)
    assert raised.value.code == error.code


def test_text_keeps_paragraphs_and_emoji_and_counts_after_normalising() -> None:
    assert clean_review_text("Soft.\n\nWould buy again 👩\u200d👩\u200d👧") == (
        "Soft.\n\nWould buy again 👩\u200d👩\u200d👧"
    )
    # NFC: a decomposed é counts once against the limit.
    assert len(clean_review_text("e\u0301" * TEXT_MAX)) == TEXT_MAX


def test_only_a_paid_order_is_reviewable() -> None:
    assert reviewable("paid")
    assert not any(reviewable(s) for s in ("awaiting_payment", "lapsed", "refunded", ""))


def test_the_average_is_rounded_half_up_to_one_decimal_in_integers() -> None:
    assert average(0, 0) == 0.0
    assert average(17, 4) == 4.3  # 4.25
    assert average(13, 3) == 4.3  # 4.333
    assert average(14, 3) == 4.7  # 4.666
    assert average(5, 1) == 5.0


def test_a_rating_shows_its_average_count_and_distribution() -> None:
    rating = Rating.recount([5, 4, 4, 1])
    assert rating.to_public() == {
        "average": 3.5,
        "count": 4,
        "distribution": {"1": 1, "2": 0, "3": 0, "4": 2, "5": 1},
    }
    stored = {"sum": "14", "count": "4", "1": "1", "4": "2", "5": "1"}
    assert Rating.from_hash(stored) == rating
    assert Rating().summary() == {"average": 0.0, "count": 0}


ops = st.lists(st.tuples(st.integers(0, 5), st.one_of(st.none(), st.integers(1, 5))), max_size=60)


@given(ops)
def test_any_sequence_of_writes_edits_and_deletes_equals_a_recount(steps: list[Any]) -> None:
    """Six reviews (slots), each written, edited or deleted at random: the aggregate moved
    step by step is always the one recounted from what stands."""
    slots: dict[int, int] = {}
    rating = Rating()
    for slot, stars in steps:
        rating = rating.step(slots.get(slot), stars)
        if stars is None:
            slots.pop(slot, None)
        else:
            slots[slot] = stars
        assert rating == Rating.recount(list(slots.values()))
        assert all(n >= 0 for n in rating.counts)


def test_a_hidden_text_is_not_shown_and_a_deleted_reviewer_is_nobody() -> None:
    review = {
        "id": "rv_1", "product_id": "p", "seller_id": "c", "reviewer": {"id": "u", "name": "Kari"},
        "product_rating": 2, "seller_rating": 3, "text": "rude words", "hidden": True,
        "created_at": 1, "reported_by": ["x"], "order_id": "o_1",
    }  # fmt: skip
    shown = public_review(review)
    assert (shown["text"], shown["hidden"], shown["product_rating"]) == ("", True, 2)
    assert "reported_by" not in shown
    assert "order_id" not in shown
    assert public_review(review, deleted=True)["reviewer"] == {"id": "deleted", "name": ""}


def test_the_seller_and_operators_moderate_and_cursors_are_ours() -> None:
    assert may_moderate("c", "c", admin=False)
    assert may_moderate("c", "x", admin=True)
    assert not may_moderate("c", "x", admin=False)
    assert pair("o_1", "p_1") == "o_1 p_1"
    assert parse_cursor(None) == parse_cursor("") == 0
    assert parse_cursor("40") == 40
    for bad in ("-1", "1e3", "٣", "9" * 10):
        with pytest.raises(BadRequest):
            parse_cursor(bad)
