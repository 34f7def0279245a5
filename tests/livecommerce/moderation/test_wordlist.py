"""A room's blocked words, without a server: what is refused, what passes, what is invalid."""

# Look-alike letters are the subject here, not a typo.
# ruff: noqa: RUF001

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from livecommerce.errors import BadRequest
from livecommerce.moderation.wordlist import MAX_ENTRIES, MAX_ENTRY_LENGTH, WordList, normalize


def blocking(*entries: str) -> WordList:
    return WordList.parse(entries)


# Normalisation


@pytest.mark.parametrize(
    "disguised",
    [
        "bad",
        "BAD",
        "BÀD",  # an accent
        "b\u0301a\u0300d\u0336",  # combining marks stacked on plain letters
        "ｂａｄ",  # fullwidth
        "𝐛𝐚𝐝",  # mathematical bold
        "ⓑⓐⓓ",  # circled
        "b\u200bad",  # zero-width space
        "ba\u00adD",  # soft hyphen
        "\u200eb\u200da\u2060d\ufeff",  # bidi mark, zero-width joiner, word joiner, BOM
        "b\u3164ad",  # a Hangul filler draws nothing
    ],
)
def test_look_alike_spellings_normalize_to_the_plain_word(disguised: str) -> None:
    assert normalize(disguised) == "bad"


def test_german_sharp_s_folds_to_ss() -> None:
    assert normalize("straße") == normalize("STRASSE") == "strasse"


# Whole words


def test_a_blocked_word_is_found_in_a_line() -> None:
    words = blocking("hell")
    assert words.find("what the hell") == "hell"
    assert words.find("Hell, no!") == "hell"
    assert words.find("(hell)") == "hell"


def test_fullwidth_and_bold_letters_do_not_hide_a_blocked_word() -> None:
    words = blocking("bad")
    assert words.find("you are ｂａｄ") == "bad"
    assert words.find("you are 𝐁𝐚𝐝") == "bad"
    assert words.find("you are ⓑⓐⓓ") == "bad"


def test_accents_and_case_do_not_hide_a_blocked_word() -> None:
    words = blocking("bad")
    assert words.find("so BÀD") == "bad"
    assert words.find("so b\u0301\u0302a\u0303d") == "bad"


def test_invisible_characters_do_not_split_a_blocked_word() -> None:
    words = blocking("bad")
    assert words.find("so b\u200bad") == "bad"
    assert words.find("so ba\u00adD") == "bad"
    assert words.find("so b\u200ea\u200fd") == "bad"


def test_an_accented_entry_matches_with_or_without_its_accents() -> None:
    words = blocking("Café")
    assert words.find("nice cafe") == "Café"
    assert words.find("NICE CAFÉ") == "Café"


def test_german_sharp_s_and_double_s_are_the_same_word() -> None:
    assert blocking("straße").find("STRASSE!") == "straße"
    assert blocking("STRASSE").find("die straße") == "STRASSE"
    assert blocking("straße").find("Strassenbahn") is None


@pytest.mark.parametrize("innocent", ["hello", "shell", "Shellfish", "HELLO", "seashells"])
def test_a_word_that_contains_a_blocked_word_is_not_refused(innocent: str) -> None:
    assert blocking("hell").find(f"well {innocent} there") is None


@pytest.mark.parametrize("innocent", ["class", "assistant", "bass", "Massachusetts"])
def test_the_scunthorpe_problem_does_not_arise(innocent: str) -> None:
    assert blocking("ass").find(innocent) is None


def test_digits_stay_digits() -> None:
    assert blocking("bad").find("b4d") is None
    assert blocking("bad").find("bad1") is None
    assert blocking("b4d").find("so B4D") == "b4d"
    assert blocking("b4d").find("so b\u2074d") == "b4d"  # superscript four is a four


# Phrases


@pytest.mark.parametrize(
    "line",
    [
        "buy followers",
        "BUY   followers",
        "buy-followers",
        "buy.followers",
        "buy_followers",
        "buy\nfollowers",
        "want to buy... followers? dm me",
    ],
)
def test_a_phrase_matches_its_words_with_anything_between_them(line: str) -> None:
    assert blocking("buy followers").find(line) == "buy followers"


@pytest.mark.parametrize("line", ["buy more followers", "buyfollowers", "buy follower", "buy"])
def test_a_phrase_needs_all_its_words_in_order(line: str) -> None:
    assert blocking("buy followers").find(line) is None


# Spelled-out letters


@pytest.mark.parametrize("line", ["b a d", "b.a.d", "b-a-d", "b_a_d", "so B . A . D!", "b\ta\td"])
def test_letter_spacing_does_not_hide_a_blocked_word(line: str) -> None:
    assert blocking("bad").find(line) == "bad"


def test_letter_spacing_does_not_hide_a_word_of_a_phrase() -> None:
    assert blocking("buy followers").find("buy f o l l o w e r s") == "buy followers"


def test_two_single_letters_are_not_read_as_a_word() -> None:
    assert blocking("ab").find("a b") is None


def test_only_a_whole_spelled_out_run_is_read_as_a_word() -> None:
    words = blocking("ass")
    assert words.find("a, s, s, e, s, s") is None  # spells "assess"
    assert words.find("a s s") == "ass"


def test_an_entry_typed_spelled_out_means_the_word() -> None:
    words = blocking("b a d")
    assert words.find("bad") == "b a d"
    assert words.find("b-a-d") == "b a d"


# Scripts without spaces


def test_a_japanese_entry_is_found_inside_a_sentence() -> None:
    words = blocking("バカ")
    assert words.find("あなたはバカです") == "バカ"
    assert words.find("ﾊﾞｶ") == "バカ"  # halfwidth katakana
    assert words.find("バ・カ") == "バカ"  # punctuation between the letters is ignored


def test_a_chinese_entry_is_found_inside_a_sentence() -> None:
    assert blocking("傻逼").find("你是傻逼吗？") == "傻逼"
    assert blocking("傻逼").find("你是傻 逼吗") == "傻逼"


def test_kana_voicing_marks_tell_words_apart() -> None:
    assert blocking("バカ").find("ハカセ") is None  # "hakase", not "baka"


def test_thai_tone_marks_tell_words_apart() -> None:
    words = blocking("เหี้ย")
    assert words.find("ไอ้เหี้ย") == "เหี้ย"
    assert words.find("เหยื่อ") is None  # "victim": the same consonants, other marks


def test_hindi_vowel_signs_tell_words_apart() -> None:
    words = blocking("बुरा")  # "bad"
    assert words.find("बहुत बुरा!") == "बुरा"
    assert words.find("बूरा") is None  # "powdered sugar"


def test_a_latin_word_next_to_japanese_is_a_word_apart() -> None:
    assert blocking("bad").find("badです") == "bad"


def test_an_entry_with_latin_letters_keeps_the_whole_word_rule() -> None:
    assert blocking("ok了").find("book了") is None


# The list


def test_entries_are_kept_as_typed_in_order() -> None:
    words = blocking("  Buy Followers ", "BAD", "バカ")
    assert words.entries == ("Buy Followers", "BAD", "バカ")


def test_duplicates_after_normalization_collapse_to_the_first() -> None:
    words = blocking("Bad", "bad", "ＢＡＤ", "buy followers", "Buy-Followers", "バカ", "ﾊﾞｶ")
    assert words.entries == ("Bad", "buy followers", "バカ")
    assert words.find("bad") == "Bad"


def test_the_first_entry_of_the_list_is_named_whatever_its_place_in_the_line() -> None:
    words = blocking("spam", "bad", "バカ")
    assert words.find("bad バカ spam") == "spam"
    assert words.find("バカ bad") == "bad"
    assert words.find("バカ") == "バカ"


def test_an_empty_list_blocks_nothing() -> None:
    assert WordList.parse([]).find("anything at all") is None
    assert WordList().find("anything at all") is None


def test_lists_with_the_same_entries_are_equal() -> None:
    assert blocking("a b c", "hell") == blocking("a b c", "hell")
    assert blocking("hell") != blocking("Hell")


# Validation


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (["ok", "   "], "entry at index 1 is empty"),
        (["x" * (MAX_ENTRY_LENGTH + 1)], f"entry at index 0 is longer than {MAX_ENTRY_LENGTH}"),
        (["ok", "fine", "bad\nword"], "entry at index 2 holds a control character U+000A"),
        (["bad\x00"], "entry at index 0 holds a control character U+0000"),
        (["\ud800"], "entry at index 0 holds an unpaired surrogate U+D800"),
        (["ok", None], "entry at index 1 is not a string"),
        ([42], "entry at index 0 is not a string"),
        (["ok", "!!!"], "entry at index 1 has no letters or digits"),
        (["\u200b"], "entry at index 0 has no letters or digits"),
    ],
)
def test_a_bad_entry_is_refused_with_its_position(raw: list[object], message: str) -> None:
    with pytest.raises(BadRequest, match=re.escape(message)) as refused:
        WordList.parse(raw)
    assert refused.value.extra == {"index": int(message.split()[3])}


def test_an_entry_of_the_longest_length_is_accepted() -> None:
    entry = "x" * MAX_ENTRY_LENGTH
    assert blocking(f"  {entry}  ").entries == (entry,)


def test_a_list_may_hold_up_to_the_limit_and_no_more() -> None:
    many = [f"word{n}" for n in range(MAX_ENTRIES)]
    assert len(WordList.parse(many).entries) == MAX_ENTRIES
    with pytest.raises(BadRequest, match=f"more than {MAX_ENTRIES} entries") as refused:
        WordList.parse([*many, "one more"])
    assert refused.value.extra == {"index": MAX_ENTRIES}


def test_a_single_string_is_not_taken_for_a_list_of_its_letters() -> None:
    with pytest.raises(BadRequest, match="not a single string"):
        WordList.parse("bad")
    with pytest.raises(BadRequest, match="not a single string"):
        WordList("bad")  # type: ignore[arg-type]


def test_a_list_built_directly_is_checked_and_matches_like_a_parsed_one() -> None:
    words = WordList(("Bad", "bad", " buy followers "))
    assert words == blocking("Bad", "buy followers")
    assert words.find("so b a d") == "Bad"
    with pytest.raises(BadRequest, match="index 1 is empty"):
        WordList(("ok", ""))


def test_an_endless_list_is_refused_without_reading_it_all() -> None:
    endless = (f"word{n}" for n in itertools.count())
    with pytest.raises(BadRequest, match=f"more than {MAX_ENTRIES} entries"):
        WordList.parse(endless)


# Properties

INNOCENT = ["hello", "nice", "stream", "price", "love", "this", "color", "ship", "today", "wow"]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u200f"]


def fullwidth(letter: str) -> str:
    return chr(ord(letter) - ord("!") + 0xFF01)


def bold(letter: str) -> str:
    base = 0x1D400 if letter.isupper() else 0x1D41A
    return chr(base + ord(letter.lower()) - ord("a"))


def circled(letter: str) -> str:
    base = 0x24B6 if letter.isupper() else 0x24D0
    return chr(base + ord(letter.lower()) - ord("a"))


def accented(letter: str) -> str:
    return letter + "\u0301"


@st.composite
def disguised(draw: st.DrawFn, word: str) -> str:
    """``word`` with random case, look-alike letters and zero-width characters between."""
    looks: list[Callable[[str], str]] = [str, fullwidth, bold, circled, accented]
    pieces: list[str] = []
    for letter in word:
        cased = letter.upper() if draw(st.booleans()) else letter
        pieces.append(draw(st.sampled_from(looks))(cased))
        pieces.append("".join(draw(st.lists(st.sampled_from(ZERO_WIDTH), max_size=2))))
    return "".join(pieces)


blocked_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=10)
innocent_lines = st.lists(st.sampled_from(INNOCENT), max_size=5).map(" ".join)


@settings(max_examples=300, database=None)
@given(word=blocked_words, prefix=innocent_lines, suffix=innocent_lines, data=st.data())
def test_a_disguised_blocked_word_is_always_found(
    word: str, prefix: str, suffix: str, data: st.DataObject
) -> None:
    line = f"{prefix} {data.draw(disguised(word))} {suffix}"
    assert blocking(word).find(line) == word


@settings(max_examples=200, database=None)
@given(word=blocked_words, before=st.sampled_from(INNOCENT), after=st.sampled_from(INNOCENT))
def test_a_blocked_word_glued_inside_a_longer_word_is_never_found(
    word: str, before: str, after: str
) -> None:
    assert blocking(word).find(f"{before}{word} {word}{after} {before}{word}{after}") is None


@settings(max_examples=200, database=None)
@given(word=blocked_words, line=st.lists(st.sampled_from(INNOCENT), max_size=8).map(" ".join))
def test_innocent_words_are_never_refused(word: str, line: str) -> None:
    assume(word not in INNOCENT)
    assert blocking(word).find(line) is None


@settings(max_examples=500, database=None)
@given(st.text(max_size=50))
def test_normalizing_twice_changes_nothing(text: str) -> None:
    assert normalize(normalize(text)) == normalize(text)
