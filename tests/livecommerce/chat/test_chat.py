"""Chat rules, without a server."""

from __future__ import annotations

import pytest

from livecommerce.chat.rules import ChatPolicy, TokenBucket, clean_text
from livecommerce.errors import BadRequest


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("  hello  ", "hello"),
        ("cafe\u0301", "café"),  # NFC: one character, not two
        ("👩‍👩‍👧 family", "👩‍👩‍👧 family"),  # zero-width joiners inside emoji are kept
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),  # text, never markup
    ],
)
def test_good_lines_are_kept_as_text(raw: str, stored: str) -> None:
    assert clean_text(raw) == stored


@pytest.mark.parametrize(
    "raw", ["", "   ", "a\x00b", "a\nb", "a\u202eb", "a\u200bb", "\ud800", "a\ue000b", "x" * 501]
)
def test_bad_lines_are_refused(raw: str) -> None:
    with pytest.raises(BadRequest):
        clean_text(raw)


def test_the_length_limit_is_the_policy_s() -> None:
    assert clean_text("x" * 10, ChatPolicy(max_length=10)) == "x" * 10
    with pytest.raises(BadRequest, match="longer than 10"):
        clean_text("x" * 11, ChatPolicy(max_length=10))


def test_a_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(100.4) is False
    assert bucket.take(100.5) is True  # half a second at 2/s is one token
    assert bucket.take(200.0) is True
