"""The giveaway's rules and its draw: who may enter, and a winner anyone can recompute."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecommerce.errors import BadRequest
from livecommerce.giveaways.rules import (
    MAX_DURATION_S,
    MIN_DURATION_S,
    Entrant,
    Giveaway,
    GiveawayState,
    Kind,
    Method,
    Refusal,
    commitment,
    draw,
    draw_index,
    entry_method,
    giveaway_from_hash,
    may_move,
    parse_free_entry,
    parse_giveaway_draft,
    sorted_entrants,
    verify,
)

SEED = bytes(range(32))
ids = st.lists(st.text(min_size=1, max_size=12).filter(lambda s: "\n" not in s), max_size=40)


def person(**fields: bool) -> Entrant:
    base = dict(signed_in=True, staff=False, banned=False, follows_host=False,
                bought_here=False, free_entry=False)  # fmt: skip
    return Entrant(**{**base, **fields})


def test_the_draw_is_the_documented_formula() -> None:
    entrants = ["u_carol", "u_alice", "u_bob"]
    ordered = sorted(entrants)
    digest = hashlib.sha256(SEED + b"u_alice\nu_bob\nu_carol").digest()
    assert draw(SEED, entrants) == ordered[int.from_bytes(digest, "big") % 3]
    assert commitment(SEED) == hashlib.sha256(SEED).hexdigest()


def test_nobody_entered_nobody_wins() -> None:
    assert draw(SEED, []) is None
    with pytest.raises(ValueError, match="nobody"):
        draw_index(SEED, [])


@given(ids, st.binary(min_size=32, max_size=32))
def test_the_order_entries_came_in_never_changes_the_winner(
    entries: list[str], seed: bytes
) -> None:
    assert draw(seed, entries) == draw(seed, list(reversed(entries)) + entries)


@given(ids, st.binary(min_size=32, max_size=32))
def test_whoever_has_the_seed_and_the_list_recomputes_the_winner(
    entries: list[str], seed: bytes
) -> None:
    published = sorted_entrants(entries)
    winner = draw(seed, entries)
    assert winner is None or winner in entries
    assert verify(commitment(seed), seed.hex(), published, winner)


@given(st.lists(st.text(min_size=1, max_size=8), min_size=2, max_size=20, unique=True))
def test_a_seed_that_is_not_the_committed_one_or_another_winner_fails_the_check(
    entries: list[str],
) -> None:
    published = sorted_entrants(entries)
    winner = draw(SEED, entries)
    other = next(e for e in published if e != winner)
    assert not verify(commitment(SEED), SEED.hex(), published, other)
    assert not verify(commitment(b"x" * 32), SEED.hex(), published, winner)
    assert not verify(commitment(SEED), "not hex", published, winner)
    assert not verify(commitment(SEED), SEED.hex(), list(reversed(published)), winner)


def test_entrant_ids_sort_by_their_utf8_bytes_not_by_code_points_or_case() -> None:
    assert sorted_entrants(["b", "B", "a", "\u00e9", "\uff21", "a"]) == [
        "B", "a", "b", "\u00e9", "\uff21",
    ]  # fmt: skip


def test_every_entrant_has_an_equal_chance_over_many_seeds() -> None:
    entrants = [f"u_{i}" for i in range(5)]
    wins = Counter(
        draw(hashlib.sha256(i.to_bytes(2, "big")).digest(), entrants) for i in range(5000)
    )
    assert set(wins) == set(entrants)
    assert all(800 < n < 1200 for n in wins.values()), wins


@pytest.mark.parametrize(
    ("kind", "who", "expected"),
    [
        (Kind.STANDARD, person(), Method.VIEWER),
        (Kind.STANDARD, person(signed_in=False), Refusal.GUEST),
        (Kind.STANDARD, person(staff=True), Refusal.STAFF),
        (Kind.STANDARD, person(banned=True), Refusal.BANNED),
        (Kind.FOLLOWERS, person(follows_host=True), Method.FOLLOWER),
        (Kind.FOLLOWERS, person(), Refusal.NOT_FOLLOWER),
        (Kind.FOLLOWERS, person(free_entry=True), Refusal.NOT_FOLLOWER),
        (Kind.BUYERS, person(bought_here=True), Method.BUYER),
        (Kind.BUYERS, person(bought_here=True, free_entry=True), Method.BUYER),
        (Kind.BUYERS, person(free_entry=True), Method.FREE),
        (Kind.BUYERS, person(), Refusal.NOT_BUYER),
        (Kind.BUYERS, person(staff=True, bought_here=True), Refusal.STAFF),
    ],
)
def test_who_may_enter_and_by_which_method(
    kind: Kind, who: Entrant, expected: Method | Refusal
) -> None:
    assert entry_method(kind, who) == expected


def test_a_giveaway_moves_forward_only() -> None:
    active, drawing, ended = GiveawayState
    assert may_move(active, drawing)
    assert may_move(active, ended)
    assert may_move(drawing, ended)
    assert not may_move(drawing, active)
    assert not may_move(ended, active)
    assert not may_move(ended, drawing)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"kind": "standard", "duration_s": 60}, "product_id"),
        ({"product_id": "p", "kind": "raffle", "duration_s": 60}, "kind"),
        ({"product_id": "p", "kind": 3, "duration_s": 60}, "kind"),
        ({"product_id": "p", "duration_s": MIN_DURATION_S - 1}, "duration_s"),
        ({"product_id": "p", "duration_s": MAX_DURATION_S + 1}, "duration_s"),
        ({"product_id": "p", "duration_s": 60.0}, "duration_s"),
        ({"product_id": "p"}, "duration_s"),
        ({"product_id": "p" * 65, "duration_s": 60}, "product_id"),
    ],
)
def test_a_bad_draft_names_its_field(body: dict[str, object], problem: str) -> None:
    with pytest.raises(BadRequest, match=problem):
        parse_giveaway_draft(body)


def test_a_good_draft_and_the_free_entry_flag() -> None:
    draft = parse_giveaway_draft({"product_id": "p_1", "kind": "buyers", "duration_s": 300})
    assert (draft.kind, draft.duration_s) == (Kind.BUYERS, 300)
    assert parse_giveaway_draft({"product_id": "p_1", "duration_s": 10}).kind is Kind.STANDARD
    assert parse_free_entry(None) is False
    assert parse_free_entry(True) is True
    with pytest.raises(BadRequest, match="free_entry"):
        parse_free_entry("yes")


def test_a_stored_giveaway_reads_back_as_it_was_written_and_shows_no_seed_until_it_ends() -> None:
    running = Giveaway(
        id="g_1", room_id="r_1", host_id="u_h", product_id="p_1", title="Yarn",
        image_url="", currency="EUR", kind=Kind.BUYERS, duration_s=60,
        state=GiveawayState.ACTIVE, starts_at=1000, ends_at=61_000, commitment=commitment(SEED),
    )  # fmt: skip
    assert giveaway_from_hash(running.to_hash()) == running
    shown = running.to_public()
    assert shown["result"] is None
    assert shown["product"] == {"id": "p_1", "title": "Yarn", "image_url": ""}
    stored = {**running.to_hash(), "state": "ended", "end_reason": "drawn", "winner": "u_a",
              "winner_name": "Ada", "order_id": "o_1", "ended_at": "61000"}  # fmt: skip
    ended = giveaway_from_hash(stored)
    assert ended.to_public(SEED.hex(), ["u_a"])["result"] == {
        "reason": "drawn", "winner": {"id": "u_a", "name": "Ada"}, "seed": SEED.hex(),
        "entrant_ids": ["u_a"], "ended_at": 61000,
    }  # fmt: skip
