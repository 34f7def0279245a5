"""The arithmetic of a show's results, with no I/O: what is counted, and what it adds up to.

Counts are stored in one hash per show (``stats_flush.lua``, ``stats_order.lua``): totals
under their own names, the timeline as ``m:<epoch minute>:<name>`` and the products as
``p:<product id>:<name>``. Minutes are absolute (epoch milliseconds // 60,000) so every
process and script agrees on them without knowing when the show started; ``results`` turns
them into the show's own minutes. docs/analytics.md defines each figure.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from livecommerce.text import spreadsheet_cell

MINUTE_MS = 60_000
# The figures a flush or an order may add to; anything else in the hash is ignored.
ENGAGEMENT = ("chat_lines", "reactions", "reports", "new_followers")
AUDIENCE = ("views", "watch_ms", "peak_viewers")
COMMERCE = ("impressions", "clicks", "holds", "orders", "units", "gmv", "refunds", "refunded")
PRODUCT = ("impressions", "clicks", "holds", "orders", "units", "gmv", "refunds", "refunded")
TIMELINE = (
    "viewers", "chat_lines", "reactions", "reports", "impressions", "clicks", "holds",
    "orders", "units", "gmv", "refunded", "new_followers",
)  # fmt: skip
TOTALS = (*AUDIENCE, *ENGAGEMENT, *COMMERCE, "first_time_buyers")
PREVIOUS_SHOWS = 5
ROOM_FIELDS = ("id", "title", "currency", "state", "started_at", "ended_at")
MAX_PRODUCTS = 200
_VISITOR = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def minute_of(at_ms: int) -> int:
    return at_ms // MINUTE_MS


def visitor_of(raw: str | None) -> str | None:
    """A guest page's own random id, when it sent a well-formed one."""
    return raw if raw is not None and _VISITOR.match(raw) else None


def watched_ms(total_ms: float, since: int, now: int, started: int, ended: int | None) -> int:
    """The part of ``total_ms`` (spread evenly over ``since``..``now``) inside the show."""
    hi = now if ended is None else min(now, ended)
    lo = max(since, started)
    if hi <= lo:
        return 0
    if now <= since:
        return int(total_ms)
    return int(total_ms * (hi - lo) / (now - since))


@dataclass(slots=True)
class RoomTally:
    """What one process saw of one show since its last flush, and who is here now."""

    present: Counter[str] = field(default_factory=Counter)  # audience viewer -> sockets
    sockets: int = 0
    most: int = 0  # the most audience sockets at once since the last flush
    watch_ms: float = 0.0
    changed_at: int = 0
    fresh: set[str] = field(default_factory=set)
    views: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    products: Counter[tuple[str, str]] = field(default_factory=Counter)
    chatters: set[str] = field(default_factory=set)
    pinned: str | None = None
    showcase: set[str] = field(default_factory=set)
    flushed_at: int = 0
    counted_live: bool = False
    # The show's live window when this process knows it (a welcome's room, a room.state
    # event): watch time is then cut at its edges here, exactly, rather than by the store.
    started: int | None = None
    ended: int | None = None
    window_known: bool = False

    def advance(self, now: int) -> None:
        """Watch time runs at one per distinct person present, whatever their tabs."""
        if now > self.changed_at and self.present:
            lo, hi = self.changed_at, now
            if self.window_known:
                lo = max(lo, self.started if self.started is not None else now)
                hi = min(hi, self.ended if self.ended is not None else now)
            if hi > lo:
                self.watch_ms += len(self.present) * (hi - lo)
        self.changed_at = max(self.changed_at, now)

    def window(self, started: int | None, ended: int | None, now: int) -> None:
        self.advance(now)
        self.started, self.ended, self.window_known = started, ended, True

    def joined(self, viewer: str, now: int, *, fresh: bool) -> None:
        self.advance(now)
        self.present[viewer] += 1
        self.sockets += 1
        self.most = max(self.most, self.sockets)
        if fresh:
            self.fresh.add(viewer)
            self.views += 1
        if self.pinned is not None:
            self.products[(self.pinned, "impressions")] += 1

    def left(self, viewer: str, now: int) -> None:
        self.advance(now)
        if self.present[viewer] <= 1:
            del self.present[viewer]
        else:
            self.present[viewer] -= 1
        self.sockets -= 1

    def pin(self, product_id: str | None) -> None:
        self.pinned = product_id
        if product_id is not None:
            self.showcase.add(product_id)
            if self.sockets:
                self.products[(product_id, "impressions")] += self.sockets

    def idle(self) -> bool:
        return not self.sockets and not self.counts and not self.products and not self.chatters


def waited(tally: RoomTally, since: int) -> bool:
    """Whether those present (not joined fresh) can have been waiting for Go live: not if the
    show was live before this tally's last flush, nor if the tally never had a welcome to
    learn the show's window from. Either way they came back with ``since`` to a process that
    had no live count of the show yet (a crash moved them, or it had no audience), and a
    resume is the same view wherever it lands."""
    return tally.window_known and (tally.started is None or tally.started >= since)


@dataclass(frozen=True, slots=True)
class Flush:
    """One show's counts from one process, as ``stats_flush.lua`` takes them."""

    since: int
    now: int
    sockets: int  # the most at once since the last flush: a short show's peak is seen too
    watch_ms: int
    watch_exact: bool  # already cut to the live window (else the store spreads it evenly)
    views: int
    counts: dict[str, int]
    products: dict[str, int]  # "<product id>|<name>" -> n
    viewers: list[str]
    chatters: list[str]
    joined: list[str]  # who joined since the last flush (to wait for Go live if it is not)


def landed(tally: RoomTally, sent: Flush, live: bool) -> None:
    """What the store said of a flush: once one lands while the show is live, only joins
    are views from then on."""
    if live:
        tally.counted_live = True


def take(tally: RoomTally, now: int) -> Flush:
    """What to send, and the tally emptied for the next second.

    Until a flush has landed while the show is live, everyone present is sent as seen, and
    who may have been waiting for Go live is a view (``waited``): a viewer who waited counts
    from that moment, a socket resumed into the live show is the view it was.
    """
    tally.advance(now)
    since = tally.flushed_at or now
    if tally.counted_live:
        viewers, views = sorted(tally.fresh), tally.views
    else:
        waiting = tally.present.keys() - tally.fresh if waited(tally, since) else set()
        viewers, views = sorted(tally.fresh | tally.present.keys()), tally.views + len(waiting)
    joined = sorted(tally.fresh)
    flush = Flush(
        since=since,
        now=now,
        sockets=tally.most,
        watch_ms=int(tally.watch_ms),
        watch_exact=tally.window_known,
        views=views,
        counts=dict(tally.counts),
        products={f"{pid}|{name}": n for (pid, name), n in tally.products.items()},
        viewers=viewers,
        chatters=sorted(tally.chatters),
        joined=joined,
    )
    tally.watch_ms = 0.0
    tally.fresh.clear()
    tally.views = 0
    tally.counts.clear()
    tally.products.clear()
    tally.chatters.clear()
    tally.flushed_at = now
    tally.most = tally.sockets
    return flush


# Results ---------------------------------------------------------------------------------


def ratio(part: int, whole: int) -> float | None:
    return None if whole <= 0 else round(part / whole, 4)


def per(amount: int, count: int, scale: int = 1) -> int | None:
    return None if count <= 0 else round(amount * scale / count)


@dataclass(frozen=True, slots=True)
class Stored:
    """A show's counts as read back: the hash, the sketches, what was shown when."""

    fields: Mapping[str, str]
    unique_viewers: int
    chatters: int
    buyers: int
    markers: list[dict[str, Any]]
    titles: Mapping[str, str]


Split = tuple[Counter[str], dict[int, Counter[str]], dict[str, Counter[str]]]


def split(fields: Mapping[str, str]) -> Split:
    """The hash's totals, minutes and products."""
    totals: Counter[str] = Counter()
    minutes: dict[int, Counter[str]] = {}
    products: dict[str, Counter[str]] = {}
    for key, raw in fields.items():
        try:
            value = int(float(raw))
        except ValueError:
            continue
        kind, _, rest = key.partition(":")
        if not rest:
            totals[key] = value
        elif kind == "m":
            minute, _, name = rest.partition(":")
            if minute.isdigit():
                minutes.setdefault(int(minute), Counter())[name] = value
        elif kind == "p":
            pid, _, name = rest.rpartition(":")
            if pid:
                products.setdefault(pid, Counter())[name] = value
    return totals, minutes, products


def summary(totals: Counter[str], stored: Stored, duration_s: int) -> dict[str, Any]:
    unique = stored.unique_viewers
    watch_s = totals["watch_ms"] // 1000
    gmv, orders = totals["gmv"], totals["orders"]
    average = per(watch_s, unique)
    return {
        "unique_viewers": unique,
        "views": totals["views"],
        "peak_viewers": totals["peak_viewers"],
        "watch_time_s": watch_s,
        "average_watch_s": None if average is None else min(average, duration_s),
        "chat_lines": totals["chat_lines"],
        "chatters": stored.chatters,
        "reactions": totals["reactions"],
        "reports": totals["reports"],
        "new_followers": totals["new_followers"],
        "impressions": totals["impressions"],
        "clicks": totals["clicks"],
        "holds": totals["holds"],
        "orders": orders,
        "units": totals["units"],
        "buyers": stored.buyers,
        "first_time_buyers": totals["first_time_buyers"],
        "gmv": gmv,
        "refunds": totals["refunds"],
        "refunded": totals["refunded"],
        "net_revenue": gmv - totals["refunded"],
        "ctr": ratio(totals["clicks"], totals["impressions"]),
        "click_to_order": ratio(orders, totals["clicks"]),
        "conversion": ratio(stored.buyers, unique),
        "aov": per(gmv, orders),
        "gpm": per(gmv, totals["views"], 1000),
    }


def timeline(minutes: Mapping[int, Counter[str]], started: int, ended: int) -> list[dict[str, Any]]:
    """Every minute of the show; what was counted outside it goes to its first or last."""
    first, last = minute_of(started), max(minute_of(max(ended - 1, started)), minute_of(started))
    rows = {m: Counter[str]() for m in range(first, last + 1)}
    for minute, counts in minutes.items():
        row = rows[min(max(minute, first), last)]
        for name in TIMELINE:
            if name == "viewers":
                row[name] = max(row[name], counts[name])
            else:
                row[name] += counts[name]
    return [
        {
            "minute": m - first,
            "at": max(started, m * MINUTE_MS),
            **{n: rows[m][n] for n in TIMELINE},
        }
        for m in range(first, last + 1)
    ]


def product_rows(
    products: Mapping[str, Counter[str]], shown: Iterable[str], titles: Mapping[str, str]
) -> list[dict[str, Any]]:
    ids = list(dict.fromkeys([*shown, *products]))[:MAX_PRODUCTS]
    rows = []
    for pid in ids:
        counts = products.get(pid, Counter())
        row: dict[str, Any] = {"product_id": pid, "title": titles.get(pid, "")}
        row.update({name: counts[name] for name in PRODUCT})
        row["ctr"] = ratio(counts["clicks"], counts["impressions"])
        row["click_to_order"] = ratio(counts["orders"], counts["clicks"])
        rows.append(row)
    rows.sort(key=lambda r: (-r["gmv"], -r["orders"], -r["clicks"], r["title"]))
    return rows


def results(
    room: Mapping[str, Any], stored: Stored, now: int, previous: list[dict[str, Any]]
) -> dict[str, Any]:
    """The results document of docs/analytics.md, for a room that has gone live."""
    started = int(room["started_at"])
    ended = room.get("ended_at")
    until = int(ended) if ended else max(now, started)
    totals, minutes, products = split(stored.fields)
    duration_s = max(0, (until - started) // 1000)
    markers = sorted(
        (dict(m, minute=max(0, minute_of(m["at"]) - minute_of(started))) for m in stored.markers),
        key=lambda m: m["at"],
    )
    shown = [m["product_id"] for m in markers if m.get("product_id")]
    return {
        "room": {k: room.get(k) for k in ROOM_FIELDS},
        "status": "final" if ended else "live",
        "generated_at": now,
        "duration_s": duration_s,
        "summary": summary(totals, stored, duration_s),
        "products": product_rows(products, shown, stored.titles),
        "timeline": timeline(minutes, started, until),
        "markers": markers,
        "previous": previous,
    }


def previous_row(
    room: Mapping[str, Any], totals: Counter[str], unique: int, buyers: int
) -> dict[str, Any]:
    """One earlier show, for the comparison."""
    return {
        "room_id": room["id"],
        "title": room["title"],
        "started_at": room["started_at"],
        "ended_at": room["ended_at"],
        "unique_viewers": unique,
        "peak_viewers": totals["peak_viewers"],
        "orders": totals["orders"],
        "gmv": totals["gmv"],
        "net_revenue": totals["gmv"] - totals["refunded"],
        "conversion": ratio(buyers, unique),
    }


# CSV -------------------------------------------------------------------------------------

PRODUCT_COLUMNS = ("product_id", "title", *PRODUCT, "ctr", "click_to_order")
TIMELINE_COLUMNS = ("minute", "at", *TIMELINE)


def to_csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([spreadsheet_cell(row.get(c)) for c in columns])
    return out.getvalue()
