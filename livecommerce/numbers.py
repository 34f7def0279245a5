"""Numbers that arrive as text: checked and bounded before anything converts them.

``int()`` of a digit string takes time that grows faster than its length and, past 4,300
digits, raises ``ValueError`` (Python 3.11+), which an edge would answer with a 500.
``str.isdigit()`` is no guard either: it takes superscripts and other scripts' digits that
``int()`` refuses or that Redis does not understand. So every number a client sends as text
(a query parameter, a header, a JSON string such as a card's ``exp_year``, a CSV cell) passes
here first: ASCII digits only, no more of them than its range needs, and a refusal that
names the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from livecommerce.errors import BadRequest

DIGITS_MAX = 18  # every such number fits a signed 64-bit integer, as Redis's do
_DIGITS = re.compile(r"[0-9]+")


def digits(text: str, max_digits: int = DIGITS_MAX) -> int | None:
    """The value of a string of at most ``max_digits`` ASCII digits; None for anything else.

    Leading zeros count towards the bound: a bound on what is read, not on the value.
    """
    if not 0 < len(text) <= max_digits or not _DIGITS.fullmatch(text):
        return None
    return int(text)


def is_digits(text: str, max_digits: int = DIGITS_MAX) -> bool:
    """Whether ``text`` is 1 to ``max_digits`` ASCII digits (ids made of numbers)."""
    return 0 < len(text) <= max_digits and _DIGITS.fullmatch(text) is not None


def whole_in(text: str, name: str, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high`` written as text, or ``BadRequest`` naming it."""
    value = digits(text, max(len(str(high)), 1))
    if value is None or not low <= value <= high:
        raise BadRequest(f"'{name}' must be a whole number from {low} to {high}")
    return value


def whole_field(
    body: Mapping[str, Any], name: str, low: int, high: int, default: int | None = None
) -> int:
    """A whole number field of a JSON body, from ``low`` to ``high``: never a float, a bool
    or a numeric string, which JSON clients send by mistake and would round or coerce."""
    value = body.get(name, default)
    if value is None:
        raise BadRequest(f"field {name!r} is missing")
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f"field {name!r} must be a whole number")
    if not low <= value <= high:
        raise BadRequest(f"field {name!r} must be between {low} and {high}")
    return value
