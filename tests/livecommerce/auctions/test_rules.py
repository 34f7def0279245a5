"""Bidding as bidders live it: proxy bids, ties, reserves, the last seconds, and bad input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livecommerce.auctions.rules import (
    Bid,
    Increments,
    Lot,
    Mode,
    Outcome,
    Refusal,
    bid,
    ends_at_after_bid,
    parse_auction_draft,
    parse_bid_amount,
    winning_price,
)
from livecommerce.errors import BadRequest

STEPS = Increments.whatnot()
EUR = 100  # minor units in one euro


def taken(result: Bid | Refusal) -> Bid:
    assert isinstance(result, Bid), result
    return result


def test_bids_rise_by_the_band_the_price_is_in() -> None:
    assert STEPS.step(29_99, "EUR") == 1 * EUR
    assert STEPS.step(30_00, "EUR") == 2 * EUR
    assert STEPS.step(99_99, "EUR") == 3 * EUR
    assert STEPS.step(299_00, "EUR") == 5 * EUR
    assert STEPS.step(999_00, "EUR") == 10 * EUR
    assert STEPS.step(1_999_00, "EUR") == 20 * EUR
    assert STEPS.step(2_000_00, "EUR") == 50 * EUR
    assert STEPS.step(250_000_00, "EUR") == 50 * EUR
    assert STEPS.step(29, "JPY") == 1  # a currency without minor units steps in whole yen
    assert STEPS.step(2_000, "JPY") == 50


def test_the_first_bid_buys_at_the_starting_bid_whatever_its_max() -> None:
    lot = Lot("EUR", starting_bid=10 * EUR)
    assert lot.next_bid(STEPS) == 10 * EUR
    after = taken(bid(lot, "kari", 40 * EUR, STEPS))
    assert (after.lot.leader, after.lot.price, after.outbid) == ("kari", 10 * EUR, None)
    assert after.lot.next_bid(STEPS) == 11 * EUR


def test_a_higher_max_takes_the_lead_at_one_step_over_the_old_max_and_says_who_lost_it() -> None:
    lot = taken(bid(Lot("EUR", starting_bid=10 * EUR), "kari", 40 * EUR, STEPS)).lot
    after = taken(bid(lot, "ola", 100 * EUR, STEPS))
    assert (after.lot.leader, after.lot.price, after.outbid) == ("ola", 42 * EUR, "kari")


def test_a_lower_max_only_pushes_the_leader_up_and_the_leader_keeps_the_lead() -> None:
    lot = taken(bid(Lot("EUR", starting_bid=10 * EUR), "kari", 40 * EUR, STEPS)).lot
    after = taken(bid(lot, "ola", 25 * EUR, STEPS))
    assert (after.lot.leader, after.lot.price, after.outbid) == ("kari", 26 * EUR, None)


def test_equal_maxes_go_to_whoever_bid_it_first_at_that_max() -> None:
    lot = taken(bid(Lot("EUR", starting_bid=10 * EUR), "kari", 40 * EUR, STEPS)).lot
    after = taken(bid(lot, "ola", 40 * EUR, STEPS))
    assert (after.lot.leader, after.lot.price) == ("kari", 40 * EUR)


def test_a_bid_under_the_next_bid_is_refused_and_changes_nothing() -> None:
    lot = taken(bid(Lot("EUR", starting_bid=10 * EUR), "kari", 40 * EUR, STEPS)).lot
    assert bid(lot, "ola", 10 * EUR, STEPS) is Refusal.TOO_LOW  # the price, not above it
    assert bid(Lot("EUR", starting_bid=10 * EUR), "ola", 9_99, STEPS) is Refusal.TOO_LOW
    assert bid(lot, "kari", 40 * EUR, STEPS) is Refusal.TOO_LOW  # the leader's own max again


def test_the_leader_raising_their_max_moves_the_price_only_where_their_max_held_it() -> None:
    lot = taken(bid(Lot("EUR", starting_bid=10 * EUR), "kari", 40 * EUR, STEPS)).lot
    lot = taken(bid(lot, "ola", 39 * EUR, STEPS)).lot
    assert lot.price == 40 * EUR  # 39 + 2 capped at Kari's 40
    raised = taken(bid(lot, "kari", 60 * EUR, STEPS)).lot
    assert (raised.leader, raised.price) == ("kari", 41 * EUR)
    again = taken(bid(raised, "kari", 90 * EUR, STEPS)).lot
    assert again.price == 41 * EUR


def test_a_reserve_is_met_only_by_a_max_that_reaches_it() -> None:
    lot = Lot("EUR", starting_bid=10 * EUR, reserve=50 * EUR)
    low = taken(bid(lot, "kari", 40 * EUR, STEPS)).lot
    assert (low.price, low.outcome()) == (10 * EUR, Outcome.RESERVE_NOT_MET)
    met = taken(bid(low, "ola", 80 * EUR, STEPS)).lot
    assert (met.leader, met.price, met.outcome()) == ("ola", 50 * EUR, Outcome.SOLD)
    assert Lot("EUR", starting_bid=10 * EUR).outcome() is Outcome.NO_BIDS


def test_a_late_bid_in_a_standard_lot_gives_everyone_time_to_answer() -> None:
    ends_at, extend = 100_000, 10
    assert ends_at_after_bid(Mode.STANDARD, ends_at, now=95_000, extend_s=extend) == 105_000
    assert ends_at_after_bid(Mode.STANDARD, ends_at, now=80_000, extend_s=extend) == ends_at
    assert ends_at_after_bid(Mode.SUDDEN_DEATH, ends_at, now=99_900, extend_s=extend) == ends_at


def test_the_host_starts_a_lot_with_bounded_fields() -> None:
    draft = parse_auction_draft({"product_id": "p_1", "starting_bid": 100, "duration_s": 30})
    assert (draft.mode, draft.extend_s, draft.reserve) == (Mode.STANDARD, 10, 0)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"starting_bid": 1.5}, "starting_bid"),
        ({"starting_bid": "100"}, "starting_bid"),
        ({"starting_bid": True}, "starting_bid"),
        ({"starting_bid": 0}, "starting_bid"),
        ({"starting_bid": 10**13}, "starting_bid"),
        ({"duration_s": 4}, "duration_s"),
        ({"duration_s": 301}, "duration_s"),
        ({"extend_s": 0}, "extend_s"),
        ({"mode": "dutch"}, "mode"),
        ({"mode": ["standard"]}, "mode"),
        ({"reserve_price": 50}, "reserve_price"),  # under the starting bid
        ({"reserve_price": -1}, "reserve_price"),
        ({"product_id": 7}, "product_id"),
    ],
)
def test_a_lot_with_a_bad_field_is_refused_naming_it(change: dict[str, Any], named: str) -> None:
    body = {"product_id": "p_1", "starting_bid": 100, "duration_s": 30, **change}
    with pytest.raises(BadRequest, match=named):
        parse_auction_draft(body)


@pytest.mark.parametrize("amount", [12.5, "12", None, True, 0, -5, 10**13, [12]])
def test_a_bid_amount_is_a_whole_positive_number(amount: object) -> None:
    with pytest.raises(BadRequest, match="amount"):
        parse_bid_amount(amount)


BIDDERS = ["kari", "ola", "mo", "ada"]


@settings(max_examples=400, deadline=None)
@given(
    starting=st.integers(1, 50 * EUR),
    reserve=st.sampled_from([0, 30 * EUR, 500 * EUR]),
    attempts=st.lists(
        st.tuples(st.sampled_from(BIDDERS), st.integers(1, 3_000 * EUR)), max_size=40
    ),
)
def test_whatever_is_bid_the_highest_max_wins_at_the_second_max_plus_one_step(
    starting: int, reserve: int, attempts: list[tuple[str, int]]
) -> None:
    lot = Lot("EUR", starting_bid=starting, reserve=max(reserve, starting) if reserve else 0)
    maxes: dict[str, int] = {}  # insertion order: when each latest max was placed
    for bidder, amount in attempts:
        before = lot
        result = bid(lot, bidder, amount, STEPS)
        if isinstance(result, Refusal):
            continue
        lot = result.lot
        assert lot.price >= before.price or before.leader is None  # the price never falls
        assert lot.price <= lot.leader_max
        if bidder != before.leader:
            assert amount >= before.next_bid(STEPS)
            assert result.outbid == (before.leader if lot.leader == bidder else None)
        maxes.pop(bidder, None)
        maxes[bidder] = amount
    assert winning_price(list(maxes.items()), lot, STEPS) == (
        None if lot.leader is None else (lot.leader, lot.price)
    )


def test_a_server_sets_its_own_bands_and_the_scripts_read_them_back() -> None:
    bands = Increments.parse("10:1, 100:5, *:25")
    assert bands.bands == ((10, 1), (100, 5), (None, 25))
    assert bands.spec() == "10:1,100:5,*:25"
    assert bands.step(999, "EUR") == 100  # 9.99 is under 10
    assert bands.step(150_000, "JPY") == 25  # no minor units in yen
    assert Increments.parse(Increments.whatnot().spec()) == Increments.whatnot()


@pytest.mark.parametrize("spec", ["", "30:1", "30:1,*:x", "50:1,30:2,*:5", "*:0", "a:1,*:2"])
def test_bands_that_do_not_rise_or_never_end_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="band"):
        Increments.parse(spec)
