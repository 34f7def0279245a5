"""An operator sees how many bids share a script call, to know what the batching achieves."""

from __future__ import annotations

import re

from tests.livecommerce.auctions.conftest import Show, bid


async def _batches(show: Show) -> tuple[float, float]:
    """(script calls, bids in them) so far, from /metrics."""
    text = (await show.http.get("/metrics")).text
    found = dict(re.findall(r"^livecommerce_bid_batch_size_(count|sum) (\S+)$", text, re.M))
    return float(found.get("count", 0)), float(found.get("sum", 0))


async def test_each_bid_script_call_is_counted_with_the_bids_it_carried(show: Show) -> None:
    _, kari_socket = await show.viewer("Kari")
    lot = await show.lot(starting_bid=1000)
    calls, bids = await _batches(show)

    await bid(kari_socket, lot["id"], 1000, "k1")
    await bid(kari_socket, lot["id"], 900, "k2")  # too low: the script still took it

    assert await _batches(show) == (calls + 2, bids + 2)
