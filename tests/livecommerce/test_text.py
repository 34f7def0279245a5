"""One rule for the text people show each other: names, titles and descriptions."""

from __future__ import annotations

import pytest

from livecommerce.errors import BadRequest
from livecommerce.text import clean_line, clean_paragraphs, shorten

HIDDEN = {
    "right-to-left override": "\u202e",
    "left-to-right embedding": "\u202a",
    "right-to-left isolate": "\u2067",
    "pop directional isolate": "\u2069",
    "arabic letter mark": "\u061c",
    "right-to-left mark": "\u200f",
    "zero-width space": "\u200b",
    "zero-width non-joiner": "\u200c",
    "zero-width joiner between letters": "\u200d",
    "word joiner": "\u2060",
    "byte-order mark": "\ufeff",
    "soft hyphen": "\u00ad",
    "hangul filler": "\u3164",
    "private use": "\ue000",
    "bell": "\x07",
    "delete": "\x7f",
}


@pytest.mark.parametrize("char", HIDDEN.values(), ids=HIDDEN.keys())
def test_text_that_shows_something_other_than_it_holds_is_refused_everywhere(char: str) -> None:
    with pytest.raises(BadRequest, match=f"'name' holds .*U\\+{ord(char):04X}"):
        clean_line(f"Ada{char}Shop", "name", 40)
    with pytest.raises(BadRequest, match=f"'description' holds .*U\\+{ord(char):04X}"):
        clean_paragraphs(f"Soft\n{char}wool", "description", 2000)


def test_people_write_in_every_script_and_with_emoji() -> None:
    for text in ("Åse Ødegård", "Ilze Bērziņa", "محمد", "王小明", "👩‍💻 Ada", "🏳️‍🌈 tee", "👍🏽"):
        assert clean_line(text, "name", 40) == text


def test_text_is_stored_one_way_and_trimmed() -> None:
    assert clean_line("  Re\u0301ne  ", "name", 40) == "Réne"  # NFC: one code point
    assert clean_paragraphs("Line one\r\n\tLine two", "description", 2000) == (
        "Line one\r\n\tLine two"
    )
    assert clean_paragraphs("", "description", 2000) == ""


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("   ", "'title' must be a non-empty string"),
        (None, "'title' must be a non-empty string"),
        ("t" * 121, "'title' is longer than 120 characters"),
        ("two\nlines", "'title' holds more than one line"),
    ],
)
def test_a_line_is_one_line_of_the_right_length(value: object, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        clean_line(value, "title", 120)


def test_a_long_name_is_cut_without_leaving_half_an_emoji_joined_to_nothing() -> None:
    assert shorten("Ada " + "x" * 50, 10) == "Ada xxxxxx"
    assert shorten("Ada 👩\u200d💻", 6) == "Ada 👩"
