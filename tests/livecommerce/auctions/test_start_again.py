"""A host who taps Start on a lot that is over: refused, and nobody is told anything twice."""

from __future__ import annotations

from tests.helpers import reply_to
from tests.livecommerce.auctions.conftest import Show, bid


async def test_starting_an_ended_lot_again_is_refused_and_its_winner_hears_of_the_win_once(
    show: Show,
) -> None:
    _, kari = await show.viewer("Kari")
    lot = await show.lot(duration_s=30)
    assert (await bid(kari, lot["id"], 1000, "k1"))["type"] == "bid.accepted"
    show.clock.advance(31)
    won = await kari.expect("auction.won")
    assert won["auction_id"] == lot["id"]

    await show.studio.send({"type": "auction.start", "auction_id": lot["id"], "ref": "again"})
    again = await reply_to(show.studio, "again")
    assert (again["type"], again["code"]) == ("error", "auction_not_active")

    # A second lot, started a moment later, ends after the first one's would-be end; the
    # ticker visits due lots soonest first, so by its end any repeat of the first is out.
    show.clock.advance(1)
    second = await show.lot(ref="second", duration_s=30)
    show.clock.advance(31)
    await kari.expect("auction.ended", lambda e: e["auction_id"] == second["id"])
    wins = [e for e in kari.seen if e["type"] == "auction.won" and e["auction_id"] == lot["id"]]
    assert len(wins) == 1
    ends = [e for e in kari.seen if e["type"] == "auction.ended" and e["auction_id"] == lot["id"]]
    assert len(ends) == 1
