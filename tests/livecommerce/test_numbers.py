"""Numbers sent as text are bounded and checked before anything converts them."""

from __future__ import annotations

import pytest

from livecommerce.errors import BadRequest
from livecommerce.numbers import digits, is_digits, whole_in


def test_a_short_ascii_number_is_read() -> None:
    assert digits("2031") == 2031
    assert digits("007") == 7
    assert whole_in("50", "limit", 1, 100) == 50


@pytest.mark.parametrize(
    "text", ["", "1" * 5000, "1" * 19, "²", "٣", "12 ", "-1", "+1", "1_000", "1e3", "12\n"]
)
def test_anything_but_a_few_ascii_digits_is_no_number(text: str) -> None:
    assert digits(text) is None
    assert not is_digits(text)


def test_the_bound_counts_leading_zeros_so_a_flood_of_them_is_never_read() -> None:
    assert digits("0" * 17 + "1") == 1
    assert digits("0" * 5000 + "1") is None


@pytest.mark.parametrize("text", ["0", "101", "1" * 5000, "0050", "x", "²"])
def test_out_of_range_or_unreadable_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(BadRequest, match="'limit' must be a whole number from 1 to 100"):
        whole_in(text, "limit", 1, 100)
