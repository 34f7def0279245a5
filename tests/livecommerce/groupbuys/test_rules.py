"""Group buy rules, pure: drafts, prices, states and what an authorised join meets."""

from __future__ import annotations

from typing import Any

import pytest

from livecommerce.errors import BadRequest, PriceNotBelowList
from livecommerce.groupbuys.rules import (
    EndReason,
    Fate,
    GroupBuy,
    GroupState,
    IllegalTransition,
    JoinState,
    advance,
    check_price,
    closing,
    end_reason,
    fate,
    group_from_hash,
    parse_group_buy_draft,
)

DRAFT = {"product_id": "p_1", "price": 2900, "min_buyers": 3, "units": 5, "duration_s": 300}


def test_a_good_draft_keeps_every_field() -> None:
    draft = parse_group_buy_draft(DRAFT)
    assert (draft.price, draft.min_buyers, draft.units, draft.duration_s) == (2900, 3, 5, 300)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"product_id": 7}, "product_id"),
        ({"price": 0}, "'price'"),
        ({"price": 29.5}, "'price' must be a whole number"),
        ({"min_buyers": 1}, "'min_buyers' must be between 2 and 100"),
        ({"min_buyers": 101, "units": 200}, "'min_buyers' must be between 2 and 100"),
        ({"units": 2}, "'units' must be at least 'min_buyers'"),
        ({"units": 1001}, "'units' must be between 1 and 1000"),
        ({"duration_s": 59}, "'duration_s' must be between 60 and 3600"),
        ({"duration_s": 3601}, "'duration_s' must be between 60 and 3600"),
        ({"duration_s": True}, "'duration_s' must be a whole number"),
    ],
)
def test_a_bad_draft_is_refused_naming_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_group_buy_draft({**DRAFT, **fields})


def test_the_group_price_must_undercut_the_list_price() -> None:
    check_price(4899, 4900)
    for price in (4900, 5000):
        with pytest.raises(PriceNotBelowList) as refused:
            check_price(price, 4900)
        assert refused.value.extra == {"list_price": 4900}


def test_a_group_moves_only_forward_and_closes_as_its_outcome_says() -> None:
    assert advance(GroupState.OPEN, GroupState.FILLED) is GroupState.FILLED
    for final in (GroupState.ENDED, GroupState.EXPIRED, GroupState.STOPPED):
        assert final.final
        assert not final.joinable
        with pytest.raises(IllegalTransition):
            advance(final, GroupState.OPEN)
    with pytest.raises(IllegalTransition):
        advance(GroupState.OPEN, GroupState.ENDED)
    with pytest.raises(IllegalTransition):
        advance(GroupState.FILLED, GroupState.EXPIRED)
    assert closing(GroupState.OPEN, EndReason.EXPIRED) is GroupState.EXPIRED
    assert closing(GroupState.OPEN, EndReason.STOPPED) is GroupState.STOPPED
    assert closing(GroupState.FILLED, EndReason.EXPIRED) is GroupState.ENDED
    assert closing(GroupState.FILLED, EndReason.SOLD_OUT) is GroupState.ENDED
    assert end_reason(GroupState.FILLED, EndReason.EXPIRED) is EndReason.FILLED
    assert end_reason(GroupState.OPEN, EndReason.EXPIRED) is EndReason.EXPIRED


def test_an_authorised_join_waits_then_is_captured_if_the_group_filled_else_voided() -> None:
    assert fate(GroupState.OPEN, 0) is Fate.WAIT
    assert fate(GroupState.FILLED, 5) is Fate.CAPTURE
    assert fate(GroupState.ENDED, 5) is Fate.CAPTURE  # stopped after filling: still paid
    assert fate(GroupState.EXPIRED, 0) is Fate.VOID
    assert fate(GroupState.STOPPED, 0) is Fate.VOID
    assert [s for s in JoinState if s.holds_unit] == [
        JoinState.PENDING,
        JoinState.AUTHORISED,
        JoinState.CAPTURED,
    ]


def test_progress_says_how_many_joined_how_many_are_needed_and_the_time_left() -> None:
    group = GroupBuy(
        id="g_1", room_id="r_1", host_id="u_h", product_id="p_1", title="Teapot", image_url="",
        currency="EUR", price=2900, list_price=4900, min_buyers=3, units=5, duration_s=300,
        state=GroupState.OPEN, starts_at=0, ends_at=300_000, available=2, pending=1,
        authorised=1, captured=1,
    )  # fmt: skip
    progress = group.progress()
    assert (progress.joined, progress.needed, progress.units_left) == (2, 1, 2)
    assert progress.seconds_left(300_000 - 252_000) == 252  # "04:12 left"
    assert progress.seconds_left(300_001) == 0
    assert group_from_hash(group.to_hash()) == group
    public = group.to_public()
    assert (public["joined"], public["units_left"], public["product"]["title"]) == (2, 2, "Teapot")
