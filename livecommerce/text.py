"""Text one person writes for others to read: names, titles, descriptions. One rule for all.

A display name, a merchant user's name, a show's or a product's title and description are
shown to strangers next to prices and a Buy button, so what they show must be what they
hold. Refused, rather than silently stripped so the writer learns why:

- control characters (line breaks and tabs only where a field is more than one line);
- format characters: bidi overrides, embeddings and isolates (which make ``Buy`` read as
  something else), zero-width spaces, marks and non-joiners (which make two names that
  look the same be different), the byte-order mark;
- characters that draw nothing but count as letters (the Hangul fillers), surrogates,
  private-use and unassigned code points.

The one format character allowed is the zero-width joiner inside an emoji sequence
(``👩‍💻``), where it is part of the picture and hides nothing. Text is NFC-normalised so
look-alike sequences are stored, and measured, one way.
"""

from __future__ import annotations

import unicodedata

from livecommerce.errors import BadRequest

NAME_MAX = 40  # a person's name as shown beside their chat lines and in the studio

_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")
_ZWJ = "\u200d"
_LINE_BREAKS = frozenset("\n\r\t")
_EMOJI_TAIL = frozenset("\ufe0f")  # an emoji presentation selector before a joiner


def clean_line(value: object, name: str, max_length: int) -> str:
    """One line of 1 to ``max_length`` characters, as it will be stored and shown."""
    text = unicodedata.normalize("NFC", value).strip() if isinstance(value, str) else ""
    if not text:
        raise BadRequest(f"'{name}' must be a non-empty string")
    if len(text) > max_length:
        raise BadRequest(f"'{name}' is longer than {max_length} characters")
    _check(text, name, multiline=False)
    return text


def clean_paragraphs(value: object, name: str, max_length: int) -> str:
    """Free text of at most ``max_length`` characters; it may be empty and span lines."""
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be a string")
    text = unicodedata.normalize("NFC", value)
    if len(text) > max_length:
        raise BadRequest(f"'{name}' is longer than {max_length} characters")
    _check(text, name, multiline=True)
    return text


def shorten(value: str, max_length: int) -> str:
    """``value`` cut to ``max_length`` characters without leaving a joiner at the end."""
    return unicodedata.normalize("NFC", value).strip()[:max_length].rstrip().rstrip(_ZWJ)


def _check(text: str, name: str, *, multiline: bool) -> None:
    for index, char in enumerate(text):
        if multiline and char in _LINE_BREAKS:
            continue
        if char == _ZWJ and _joins_emoji(text, index):
            continue
        if char in _FILLERS or unicodedata.category(char) in _REFUSED_CATEGORIES:
            kind = "more than one line or a" if char in _LINE_BREAKS else "a"
            raise BadRequest(
                f"'{name}' holds {kind} control or invisible character (U+{ord(char):04X})"
            )


def _joins_emoji(text: str, index: int) -> bool:
    before = text[index - 1] if index > 0 else ""
    after = text[index + 1] if index + 1 < len(text) else ""
    return _is_emoji(before) and _is_emoji(after)


def _is_emoji(char: str) -> bool:
    if not char:
        return False
    if char in _EMOJI_TAIL or 0x1F3FB <= ord(char) <= 0x1F3FF:  # skin-tone modifiers
        return True
    return unicodedata.category(char) == "So"


def spreadsheet_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: cells that start with = + - @ run as formulas,
    and buyers choose their names and creators their titles."""
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text
