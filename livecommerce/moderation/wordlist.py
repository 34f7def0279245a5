"""A room's blocked words: moderators list words or short phrases, and a chat line holding one
is refused.

Pure and synchronous: the API parses a moderator's list once with :meth:`WordList.parse`, the
gateway asks :meth:`WordList.find` about every chat line, and the tests drive both directly.

Both sides, entries and chat lines, go through the same :func:`normalize`, so a look-alike
spelling of a blocked word is the blocked word: ``"BÀD"``, ``"ｂａｄ"``, ``"𝐛𝐚𝐝"``, ``"ⓑⓐⓓ"``,
``"b\\u200bad"`` and ``"ba\\u00adD"`` are all ``"bad"``. Then a line is cut into words, and an
entry matches:

* whole words only, so blocking ``"ass"`` leaves ``"class"`` and ``"assistant"`` alone (the
  Scunthorpe problem). A word is a run of letters, digits and the marks that spell them;
  everything else, the underscore included, separates words, so ``"buy followers"`` also
  matches ``"buy-followers"``, ``"buy_followers"`` and ``"buy   followers"``;
* spelled-out letters: three or more one-letter words in a row (``"b a d"``, ``"b.a.d"``,
  ``"b_a_d"``) are also read as the word they spell. Only the whole run is read, so
  ``"u r b a d"`` reads ``"urbad"``: reading every piece of a run would refuse lists such as
  ``"a, s, s, e, s, s"``;
* as a substring for an entry written in a script without spaces between words (Chinese and
  Japanese ideographs, kana, Thai, Lao, Khmer, Myanmar) and with no ASCII letter: such a line
  cannot be cut into words, so the entry matches anywhere in the line's letters and digits,
  with the spaces and punctuation between them ignored (``"バ・カ"`` holds ``"バカ"``).

Digits stay digits (no leetspeak table: ``"b4d"`` is not ``"bad"``), and letters of other
scripts are not mapped to the Latin letters they resemble (Cyrillic ``"а"`` is not ``"a"``).

Cost per chat line: one normalisation and one regex scan of the line, then one dict lookup per
word and per window of consecutive words for each distinct phrase length in the list, and, if
the list has substring entries, one C-level substring search per such entry. It grows with
the length of the line, not with the number of entries, except for the substring entries.
"""

# Look-alike letters are the subject here, not a typo.
# ruff: noqa: RUF002, RUF003

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import cast

from livecommerce.errors import BadRequest

MAX_ENTRIES = 500
MAX_ENTRY_LENGTH = 64

# Scripts whose combining marks spell the word, so dropping them would merge different words:
# Indic vowel signs and viramas (बुरा, bad, is not बूरा, sugar), Thai tone marks (เหี้ย is not
# เหย), kana voicing marks (ばか is not はか). Marks on letters of every other script are
# decoration or an evasion, as on Latin, Greek and Cyrillic letters, and are dropped.
_SPELLING_MARK_BLOCKS = (
    (0x0900, 0x0DFF),  # Devanagari, Bengali, Gurmukhi, Gujarati, Oriya, Tamil ... Sinhala
    (0x0E00, 0x0FFF),  # Thai, Lao, Tibetan
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
)

# Scripts written without spaces between words: an entry in them is matched as a substring.
# The small blocks are filtered down to their letters, marks and digits below, so their
# punctuation (the katakana middle dot, Thai ๚) still separates; the ideograph blocks are
# letters throughout.
_SPACELESS_SMALL_BLOCKS = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3000, 0x30FF),  # CJK symbols (々 〆 〇), Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
)
_IDEOGRAPH_BLOCKS = (
    (0x3400, 0x4DBF),  # CJK Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0x20000, 0x3FFFF),  # CJK Extensions B onwards
)

# Letters (category Lo, so ``\w``) that draw nothing: a filler inside a word would glue a
# blocked word to nothing visible and hide it.
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")


def _chars(blocks: Iterable[tuple[int, int]], categories: str) -> frozenset[str]:
    return frozenset(
        chr(code)
        for low, high in blocks
        for code in range(low, high + 1)
        if unicodedata.category(chr(code))[0] in categories
    )


def _char_class(chars: Iterable[str], blocks: Iterable[tuple[int, int]] = ()) -> str:
    """The body of a regex ``[...]`` holding ``chars`` and the whole of ``blocks``."""
    ranges: list[tuple[int, int]] = []
    for code in sorted(ord(char) for char in chars):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in [*ranges, *blocks])


_SPELLING_LETTERS = _chars(_SPELLING_MARK_BLOCKS, "L")
_SPELLING_MARKS = _chars(_SPELLING_MARK_BLOCKS, "M")
_SPACELESS = _char_class(_chars(_SPACELESS_SMALL_BLOCKS, "LMN"), _IDEOGRAPH_BLOCKS)
_IN_SPACELESS_SCRIPT = re.compile(f"[{_SPACELESS}]")
_ASCII_LETTER = re.compile("[a-z]")

# A word is a run of spaceless-script characters, or a run of other letters and digits with
# the marks that spell them. ``\w`` alone would cut Hindi at every vowel sign (Python counts
# no mark as ``\w``) and glue "bad" to the Japanese after it in "badです"; the underscore is
# taken out so that "b_a_d" and "buy_followers" are words apart.
_WORD = re.compile(
    f"[{_SPACELESS}]+|(?:(?![{_SPACELESS}])[^\\W_]|[{_char_class(_SPELLING_MARKS)}])+"
)

# The shortest run of one-letter words read as the word it spells: "a b" is too often two
# real words ("u r", "a b testing") to join.
_SPELLED_OUT_MIN = 3


def normalize(text: str) -> str:
    """``text`` with the differences a reader does not see removed, for comparing, not showing.

    NFKC folds compatibility look-alikes (fullwidth, mathematical bold, circled, ligatures,
    superscripts) to plain letters and digits; casefold goes further than ``lower`` (``ß`` is
    ``ss``); format characters (zero-width space and joiners, soft hyphen, bidi marks, tags)
    and invisible fillers are removed, because inside a word they split it for a program and
    not for a reader; combining marks are removed (``à`` is ``a``, stacked marks vanish)
    except those that spell words in the scripts of ``_SPELLING_MARK_BLOCKS``.
    """
    if text.isascii():
        return text.lower()  # the common line: NFKC and casefold of ASCII are lower()
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    if text.isascii():
        return text
    kept: list[str] = []
    spelling = False  # whether the letter the next marks sit on is one whose marks spell
    for char in text:
        category = unicodedata.category(char)
        if category[0] == "M":
            if spelling and char in _SPELLING_MARKS:
                kept.append(char)
        elif category != "Cf" and char not in _INVISIBLE_LETTERS:
            spelling = char in _SPELLING_LETTERS
            kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept))


def _words(normalized: str) -> list[str]:
    return _WORD.findall(normalized)


def _join_spelled_out(words: list[str]) -> list[str] | None:
    """``words`` with each run of one-letter words joined into one, or None if there is none."""
    joined: list[str] = []
    run: list[str] = []
    found = False
    for word in [*words, ""]:  # the empty sentinel ends the last run
        if len(word) == 1:
            run.append(word)
            continue
        if len(run) >= _SPELLED_OUT_MIN:
            joined.append("".join(run))
            found = True
        else:
            joined.extend(run)
        run.clear()
        if word:
            joined.append(word)
    return joined if found else None


@dataclass(frozen=True, slots=True)
class WordList:
    """One room's blocked entries, as moderators typed them, and the lookups that match them.

    Building one validates the entries and prepares the lookups, once, since :meth:`find`
    runs on every chat line; :meth:`parse` builds one from decoded JSON. Two lists are equal
    when their entries are.
    """

    entries: tuple[str, ...] = ()
    # Entry index by normalised key: one-word entries, phrases of several words, and entries
    # in scripts without spaces. The index decides which entry ``find`` names.
    _single: Mapping[str, int] = field(init=False, repr=False, compare=False)
    _phrases: Mapping[tuple[str, ...], int] = field(init=False, repr=False, compare=False)
    _phrase_lengths: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _substrings: tuple[tuple[str, int], ...] = field(init=False, repr=False, compare=False)

    @classmethod
    def parse(cls, raw: Iterable[object]) -> WordList:
        """The list from a moderator's entries, or ``BadRequest`` naming the first bad one.

        ``raw`` is typed ``object`` because it comes from decoded JSON; the entries are
        checked when the list is built. Reading stops one past the limit, so a huge or
        endless iterable costs no more than a list that is one too long.
        """
        if isinstance(raw, str | bytes):
            # Iterating a string would block each of its letters.
            raise BadRequest("the word list must be a list of strings, not a single string")
        return cls(cast("tuple[str, ...]", tuple(islice(raw, MAX_ENTRIES + 1))))

    def __post_init__(self) -> None:
        """Check every entry, drop the duplicates, and build the lookups.

        Each entry is stripped and kept as typed for display; an entry that normalises to the
        same key as an earlier one would match the same lines, so it is dropped and the list
        shows each blocked thing once.
        """
        if isinstance(self.entries, str | bytes):
            raise BadRequest("the word list must be a list of strings, not a single string")
        entries: list[str] = []
        single: dict[str, int] = {}
        phrases: dict[tuple[str, ...], int] = {}
        substrings: dict[str, int] = {}
        for index, item in enumerate(self.entries):
            if index == MAX_ENTRIES:
                raise BadRequest(
                    f"the word list holds more than {MAX_ENTRIES} entries", index=index
                )
            entry = _check_entry(index, item)
            normalized = normalize(entry)
            words = _words(normalized)
            if not words:
                raise BadRequest(
                    f"word list entry at index {index} has no letters or digits to match",
                    index=index,
                )
            position = len(entries)
            if not _ASCII_LETTER.search(normalized) and _IN_SPACELESS_SCRIPT.search(normalized):
                key = "".join(words)
                if key in substrings:
                    continue
                substrings[key] = position
            else:
                # An entry typed spelled out ("b a d") means the word it spells, as in a line.
                words = _join_spelled_out(words) or words
                if len(words) == 1:
                    if words[0] in single:
                        continue
                    single[words[0]] = position
                else:
                    if tuple(words) in phrases:
                        continue
                    phrases[tuple(words)] = position
            entries.append(entry)
        object.__setattr__(self, "entries", tuple(entries))
        object.__setattr__(self, "_single", single)
        object.__setattr__(self, "_phrases", phrases)
        object.__setattr__(self, "_phrase_lengths", tuple(sorted({len(k) for k in phrases})))
        object.__setattr__(self, "_substrings", tuple(substrings.items()))

    def find(self, text: str) -> str | None:
        """The first entry of the list that ``text`` holds, as typed, or None.

        "First" is in the list's order, not the line's, so the answer for a line does not
        depend on where in it the blocked words stand.
        """
        if not self.entries:
            return None
        words = _words(normalize(text))
        best = self._first_in(words, len(self.entries))
        spelled_out = _join_spelled_out(words)
        if spelled_out is not None:
            best = self._first_in(spelled_out, best)
        if self._substrings:
            letters = "".join(words)
            for key, position in self._substrings:  # in list order: the first hit is the best
                if position >= best:
                    break
                if key in letters:
                    best = position
                    break
        return self.entries[best] if best < len(self.entries) else None

    def _first_in(self, words: list[str], best: int) -> int:
        """The lowest entry index among the words and phrases in ``words``, or ``best``."""
        for word in words:
            position = self._single.get(word, best)
            best = min(best, position)
        for length in self._phrase_lengths:
            for start in range(len(words) - length + 1):
                position = self._phrases.get(tuple(words[start : start + length]), best)
                best = min(best, position)
        return best


def _check_entry(index: int, item: object) -> str:
    """``item`` stripped, or ``BadRequest`` saying what is wrong with it and where."""
    where = f"word list entry at index {index}"
    if not isinstance(item, str):
        raise BadRequest(f"{where} is not a string", index=index)
    entry = item.strip()
    if not entry:
        raise BadRequest(f"{where} is empty", index=index)
    if len(entry) > MAX_ENTRY_LENGTH:
        raise BadRequest(f"{where} is longer than {MAX_ENTRY_LENGTH} characters", index=index)
    for char in entry:
        category = unicodedata.category(char)
        if category == "Cc":
            raise BadRequest(f"{where} holds a control character U+{ord(char):04X}", index=index)
        if category == "Cs":
            raise BadRequest(f"{where} holds an unpaired surrogate U+{ord(char):04X}", index=index)
    return entry
