"""The locale files: every page string exists in every language, with the same placeholders.

No browser needed; these guard the files the pages load.
"""

from __future__ import annotations

import json
import re

import pytest

from livecommerce.errors import (
    AlreadyJoined,
    Banned,
    BlockedWord,
    GroupBuyNotOpen,
    Muted,
    RateLimited,
    SoldOut,
)
from livecommerce.groupbuys.rules import EndReason
from livecommerce.moderation.rules import ModAction, ReportReason

from .support import LOCALES, REPO

LANGUAGES = ("en", "nb", "sv", "nl", "lv")
STATIC = REPO / "static"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# t('a.b'), tn('a.b', n), setText(el, 'a.b') in the page scripts.
KEY_IN_JS = re.compile(r"\b(?:t|tn|setText\([^,()]+,)\s*\(?\s*'([a-z_]+(?:\.[a-z_]+)+)'")
# Keys whose text is the same in every language on purpose.
SAME_EVERYWHERE = re.compile(r"^(language\.\w+|connection\.error)$")


def load(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((LOCALES / f"{lang}.json").read_text(encoding="utf-8"))
    return data


def keys_used_by_pages() -> set[str]:
    keys: set[str] = set()
    for html in [*STATIC.glob("*.html"), *STATIC.glob("partials/*.html")]:
        keys.update(re.findall(r'data-i18n(?:-[a-z-]+)?="([^"]+)"', html.read_text()))
    for js in (STATIC / "js").glob("*.js"):
        keys.update(KEY_IN_JS.findall(js.read_text()))
    return keys


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_language_has_the_same_keys_and_placeholders(lang: str) -> None:
    en = load("en")
    other = load(lang)
    assert sorted(other) == sorted(en)
    for key, text in other.items():
        assert text.strip(), f"{lang}: {key} is empty"
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(en[key])), (
            f"{lang}: {key} has other placeholders than en"
        )


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_translations_are_not_english_copies(lang: str) -> None:
    en = load("en")
    other = load(lang)
    translatable = [k for k in en if not SAME_EVERYWHERE.match(k)]
    copies = [k for k in translatable if other[k] == en[k]]
    # A few words are the same in several languages ("Live", "Chat", "Host"); most are not.
    assert len(copies) < len(translatable) * 0.1, f"{lang}: copied from en: {copies}"


def test_every_key_a_page_uses_exists() -> None:
    en = load("en")
    missing = sorted(
        key for key in keys_used_by_pages() if key not in en and f"{key}.other" not in en
    )
    assert not missing


def keys_built_at_run_time() -> set[str]:
    """Keys the pages make from a value the server sends (`report.reason.${reason}`, ...)."""
    keys = {f"report.reason.{reason.value}" for reason in ReportReason}
    # The console's audit log has a sentence per tool; slow mode has one for on and off.
    for action in ModAction:
        name = action.value.removeprefix("mod.")
        keys.update({"console.audit.slow_on", "console.audit.slow_off"} if name == "slow" else
                    {f"console.audit.{name}"})  # fmt: skip
    keys.update(f"error.{e.code}" for e in (Banned, Muted, BlockedWord, RateLimited))
    keys.update(f"console.order.{state}" for state in ("paid", "refunded"))
    # Group buys: how one ended, and the refusals a join meets in the checkout sheet.
    keys.update(f"groupbuy.ended.{reason.value}" for reason in EndReason)
    keys.update(f"groupbuy.error.{e.code}" for e in (GroupBuyNotOpen, SoldOut, AlreadyJoined))
    keys.update(f"groupbuy.results.{fill}" for fill in ("filled", "not_filled"))
    return keys


def test_every_key_made_from_a_server_value_exists() -> None:
    en = load("en")
    assert not sorted(keys_built_at_run_time() - set(en))
