"""Chat rules: what a chat line may be, and how fast one person may send them.

Pure functions: the gateway calls them with the text and the clock it already has, and the
tests drive them directly.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from livecommerce.errors import BadRequest

CHAT_MAX_LENGTH = 500

# Format characters that are legitimate inside text: joiners make emoji sequences and
# some scripts render correctly; the bidi overrides and invisible fillers are refused.
_ALLOWED_FORMAT = frozenset("\u200c\u200d\ufe0f\ufe0e")


@dataclass(frozen=True, slots=True)
class ChatPolicy:
    """Limits of one room's chat. ``rate`` is messages per second, ``burst`` the bucket."""

    max_length: int = CHAT_MAX_LENGTH
    rate: float = 0.5
    burst: int = 3


def clean_text(text: str, policy: ChatPolicy = ChatPolicy()) -> str:
    """The text as it will be stored, or ``BadRequest`` naming the rule it breaks.

    NFC normalisation keeps look-alike sequences from counting twice against the length
    limit; control and bidi-override characters are refused rather than stripped so the
    sender learns why.
    """
    text = unicodedata.normalize("NFC", text).strip()
    if not text:
        raise BadRequest("chat text is empty")
    if len(text) > policy.max_length:
        raise BadRequest(f"chat text is longer than {policy.max_length} characters")
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc" or (category == "Cf" and char not in _ALLOWED_FORMAT):
            raise BadRequest(f"chat text holds a control character U+{ord(char):04X}")
        if category in ("Cs", "Co", "Cn"):
            raise BadRequest(
                f"chat text holds an unassigned or private character U+{ord(char):04X}"
            )
    return text


@dataclass(slots=True)
class TokenBucket:
    """A local leaky bucket for per-connection limits that need no cross-process truth."""

    rate: float
    burst: float
    tokens: float = -1.0
    updated: float = 0.0

    def take(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.updated = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False
