"""The arithmetic of a show's results, driven without a server."""

from __future__ import annotations

import csv
import io
from collections import Counter

from livecommerce.analytics import rules
from livecommerce.analytics.rules import MINUTE_MS, RoomTally, Stored

T0 = 29_000_000 * MINUTE_MS  # a show that starts on a minute


def stored(fields: dict[str, str], viewers: int = 0, buyers: int = 0) -> Stored:
    return Stored(fields, viewers, 0, buyers, [], {})


def test_two_tabs_of_one_viewer_watch_once_and_a_leaver_stops_the_clock() -> None:
    tally = RoomTally(changed_at=T0, flushed_at=T0)
    tally.joined("u:kari", T0, fresh=True)
    tally.joined("u:kari", T0 + 10_000, fresh=True)  # her laptop too
    tally.joined("g:guest123", T0 + 20_000, fresh=True)
    tally.left("g:guest123", T0 + 50_000)
    sent = rules.take(tally, T0 + 60_000)
    assert sent.watch_ms == 60_000 + 30_000
    assert sent.sockets == 3  # the most at once in that second: the peak sees it
    assert tally.most == 2
    assert tally.watch_ms == 0
    assert tally.flushed_at == T0 + 60_000


def test_before_the_show_is_counted_live_everyone_present_is_sent_once_live_only_newcomers() -> (
    None
):
    tally = RoomTally(changed_at=T0, flushed_at=T0)
    tally.joined("u:kari", T0, fresh=True)
    tally.joined("u:lars", T0, fresh=True)
    tally.window(None, None, T0)  # their welcomes: the show has not started
    before = rules.take(tally, T0 + 500)
    rules.landed(tally, before, live=False)  # not live yet: they wait
    tally.window(T0 + 800, None, T0 + 800)  # Go live
    first = rules.take(tally, T0 + 1000)
    assert first.viewers == ["u:kari", "u:lars"]
    assert first.views == 2
    rules.landed(tally, first, live=True)
    tally.joined("u:mia", T0 + 1500, fresh=True)
    tally.joined("u:kari", T0 + 1600, fresh=False)  # a resumed socket is the same view
    second = rules.take(tally, T0 + 2000)
    assert second.viewers == ["u:mia"]
    assert second.views == 1


def test_sockets_resumed_on_a_process_new_to_the_live_show_are_no_new_views() -> None:
    """b died; its viewers resume on a, which had no audience (no tally) or the show live."""
    fresh = RoomTally(changed_at=T0 + 5000, flushed_at=T0 + 5000)
    fresh.joined("u:kari", T0 + 5000, fresh=False)  # no welcome: the window is unknown
    assert rules.take(fresh, T0 + 6000).views == 0
    known = RoomTally(changed_at=T0 + 5000, flushed_at=T0 + 5000)
    known.window(T0, None, T0 + 5000)  # the host's studio welcome: live since T0
    known.joined("u:kari", T0 + 5100, fresh=False)
    known.joined("u:lars", T0 + 5200, fresh=True)
    sent = rules.take(known, T0 + 6000)
    assert (sent.views, sent.viewers) == (1, ["u:kari", "u:lars"])
    for heard_of_go_live in (False, True):  # a flush may go before Go live reaches here
        waiting = RoomTally(changed_at=T0 - 9000, flushed_at=T0 - 1000)
        waiting.window(None, None, T0 - 9000)  # welcomed before Go live
        waiting.joined("u:kari", T0 - 9000, fresh=False)  # resumed while waiting: one view
        if heard_of_go_live:
            waiting.window(T0, None, T0 + 500)
        assert rules.take(waiting, T0 + 1000).views == 1


def test_a_pin_impresses_every_socket_present_and_each_that_joins_while_it_stands() -> None:
    tally = RoomTally(changed_at=T0)
    tally.joined("u:kari", T0, fresh=True)
    tally.joined("u:kari", T0, fresh=True)
    tally.pin("p_vinyl")
    tally.joined("u:lars", T0 + 1, fresh=True)
    tally.pin(None)
    tally.joined("u:mia", T0 + 2, fresh=True)
    assert tally.products[("p_vinyl", "impressions")] == 3
    assert tally.showcase == {"p_vinyl"}


def test_watch_time_outside_the_show_does_not_count() -> None:
    started, ended = T0, T0 + 60_000
    assert rules.watched_ms(10_000, T0 - 10_000, T0, started, ended) == 0  # before
    assert rules.watched_ms(10_000, T0 - 5_000, T0 + 5_000, started, ended) == 5_000
    assert rules.watched_ms(10_000, ended - 2_000, ended + 8_000, started, ended) == 2_000
    assert rules.watched_ms(10_000, ended, ended + 10_000, started, ended) == 0


def test_results_add_up_and_derive_the_ratios_docs_define() -> None:
    fields = {
        "views": "10", "watch_ms": "900000", "peak_viewers": "6", "chat_lines": "7",
        "impressions": "40", "clicks": "8", "orders": "2", "units": "3", "gmv": "6000",
        "refunds": "1", "refunded": "2000", "first_time_buyers": "1",
        f"m:{T0 // MINUTE_MS}:viewers": "4", f"m:{T0 // MINUTE_MS + 1}:viewers": "6",
        f"m:{T0 // MINUTE_MS + 1}:gmv": "6000", f"m:{T0 // MINUTE_MS + 9}:gmv": "1",
        "p:p_vinyl:clicks": "8", "p:p_vinyl:impressions": "40", "p:p_vinyl:gmv": "6000",
        "p:p_vinyl:orders": "2", "junk": "not a number",
    }  # fmt: skip
    room = {"id": "r1", "title": "Show", "currency": "EUR", "state": "ended",
            "started_at": T0, "ended_at": T0 + 120_000}  # fmt: skip
    found = rules.results(room, stored(fields, viewers=5, buyers=2), T0 + 200_000, [])
    s = found["summary"]
    assert found["status"] == "final"
    assert found["duration_s"] == 120
    assert s["watch_time_s"] == 900
    assert s["average_watch_s"] == 120
    assert s["ctr"] == 0.2
    assert s["click_to_order"] == 0.25
    assert s["conversion"] == 0.4
    assert s["aov"] == 3000
    assert s["gpm"] == 600_000
    assert s["net_revenue"] == 4000
    assert [m["viewers"] for m in found["timeline"]] == [4, 6]
    assert [m["gmv"] for m in found["timeline"]] == [0, 6001]  # a late payment: the last minute
    assert found["products"][0]["ctr"] == 0.2


def test_ratios_with_nothing_to_divide_by_are_null_not_zero() -> None:
    room = {"id": "r1", "title": "Quiet", "currency": "EUR", "state": "live",
            "started_at": T0, "ended_at": None}  # fmt: skip
    found = rules.results(room, stored({}), T0 + 30_000, [])
    s = found["summary"]
    assert found["status"] == "live"
    assert s["ctr"] is None
    assert s["conversion"] is None
    assert s["aov"] is None
    assert s["average_watch_s"] is None
    assert len(found["timeline"]) == 1


def test_a_title_that_looks_like_a_formula_is_text_in_the_csv() -> None:
    rows = [{"product_id": "p1", "title": '=HYPERLINK("x")', "gmv": -5, "ctr": None}]
    text = rules.to_csv(rows, ("product_id", "title", "gmv", "ctr"))
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed == [["product_id", "title", "gmv", "ctr"], ["p1", '\'=HYPERLINK("x")', "-5", ""]]


def test_only_a_well_formed_visitor_id_is_taken() -> None:
    assert rules.visitor_of("Ab3_-xyz90") == "Ab3_-xyz90"
    for bad in (None, "", "short", "has space in it", "x" * 65, "ünïcode-id"):
        assert rules.visitor_of(bad) is None


def test_split_reads_minutes_and_products_and_skips_what_it_cannot() -> None:
    totals, minutes, products = rules.split(
        {"orders": "2", "m:12:gmv": "5", "m:x:gmv": "1", "p:a:b:clicks": "3", "p::x": "1"}
    )
    assert totals == Counter({"orders": 2})
    assert minutes == {12: Counter({"gmv": 5})}
    assert products == {"a:b": Counter({"clicks": 3})}
