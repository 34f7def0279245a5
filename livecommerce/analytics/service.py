"""Counting a show as it happens, and its results for the creator.

The sockets' side is counted where it happens without a store call: the room channels tell
this service who joined, who left and which room events went by (``admitted``, ``left``,
``room_event``), the gateway tells it of chat, reactions, reports and product clicks. Once a
second each show's tally goes to the store in one call (``flush``), so counting costs the
fan-out nothing per event and a process killed mid-show loses at most its last second.
Orders and refunds are counted as they are made, once by order id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from livecommerce.analytics import rules
from livecommerce.analytics.rules import Flush, RoomTally, Stored
from livecommerce.analytics.store import AnalyticsStore
from livecommerce.auctions.store import AuctionStore
from livecommerce.catalog.store import CatalogStore
from livecommerce.errors import Conflict, Forbidden, LiveCommerceError
from livecommerce.events import Event
from livecommerce.giveaways.store import GiveawayStore
from livecommerce.groupbuys.store import GroupBuyStore
from livecommerce.polls.rules import Poll
from livecommerce.polls.store import PollStore
from livecommerce.rooms.rules import Room, RoomState
from livecommerce.rooms.store import RoomStore
from livecommerce.runtime import metrics
from livecommerce.selling.store import SalesStore

log = logging.getLogger("livecommerce.analytics")

FLUSH_EVERY_S = 1.0
HOST_ROOMS_READ = 50


class Watcher(Protocol):
    """A socket as the counting sees it."""

    @property
    def viewer(self) -> str: ...

    @property
    def audience(self) -> bool: ...


class Analytics:
    def __init__(
        self,
        store: AnalyticsStore,
        rooms: RoomStore,
        catalog: CatalogStore,
        sales: SalesStore,
        auctions: AuctionStore,
        *,
        process_id: str,
        is_admin: Callable[[str], Awaitable[bool]],
        clock: Callable[[], float] = time.time,
        enabled: bool = True,
        giveaways: GiveawayStore | None = None,
        polls: PollStore | None = None,
    ) -> None:
        self.store = store
        self.polls = polls
        self.rooms = rooms
        self.catalog = catalog
        self.sales = sales
        self.auctions = auctions
        self.giveaways = giveaways
        self.groupbuys: GroupBuyStore | None = None  # group buys' moments, set by the wiring
        self.process_id = process_id
        self.is_admin = is_admin
        self.clock = clock
        self.enabled = enabled
        self.tallies: dict[str, RoomTally] = {}
        self._products_of_sales: dict[str, str] = {}
        self._flushing = asyncio.Lock()  # one flush at a time: when one returns, all landed

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _tally(self, room_id: str) -> RoomTally:
        tally = self.tallies.get(room_id)
        if tally is None:
            now = self.now_ms()
            tally = self.tallies[room_id] = RoomTally(changed_at=now, flushed_at=now)
        return tally

    # What the room channels see ------------------------------------------------------

    def admitted(self, room_id: str, member: Watcher, snapshot: Any) -> None:
        """A socket joined; ``snapshot`` is its welcome's (None for a resumed socket)."""
        if not self.enabled:
            return
        tally = self._tally(room_id)
        if snapshot is not None:
            self._learn(tally, snapshot)
        if member.audience:
            tally.joined(member.viewer, self.now_ms(), fresh=snapshot is not None)

    def left(self, room_id: str, member: Watcher) -> None:
        if self.enabled and member.audience and room_id in self.tallies:
            self.tallies[room_id].left(member.viewer, self.now_ms())

    def room_event(self, room_id: str, event: Event) -> None:
        """A room event went by: pins make impressions, and what is shown may be clicked."""
        if not self.enabled:
            return
        kind = event.get("type")
        if kind == "room.state":
            tally = self._tally(room_id)
            at = int(event.get("at") or self.now_ms())
            if event.get("state") == "live":
                tally.window(at, None, at)
            elif event.get("state") == "ended":
                # A tally with no welcome behind it has only sockets that resumed into the
                # live show: live for all of its life, so its watch time ends here exactly.
                tally.window(tally.started if tally.window_known else 0, at, at)
        elif kind == "product.pinned":
            self._tally(room_id).pin(str(event["product"]["id"]))
        elif kind == "product.unpinned":
            self._tally(room_id).pin(None)
        elif kind == "sale.started":
            self._tally(room_id).showcase.add(str(event["sale"]["product_id"]))
        elif kind in ("auction.queued", "auction.started"):
            self._tally(room_id).showcase.add(str(event["auction"]["product_id"]))

    def _learn(self, tally: RoomTally, snapshot: Any) -> None:
        room = snapshot.room
        if room.started_at is not None or room.state is RoomState.SCHEDULED:
            tally.window(room.started_at, room.ended_at, self.now_ms())
        pinned = snapshot.pinned
        tally.pinned = str(pinned["id"]) if isinstance(pinned, dict) else None
        shown: Iterable[Any] = [
            *(s.get("product_id") for s in snapshot.sales),
            *(a.get("product_id") for a in snapshot.auctions),
            tally.pinned,
        ]
        tally.showcase.update(str(p) for p in shown if p)

    # What the gateway sees -----------------------------------------------------------

    def count(self, room_id: str, figure: str, n: int = 1) -> None:
        if self.enabled:
            self._tally(room_id).counts[figure] += n
            metrics.SHOW_COUNTS.labels(figure).inc(n)

    def chatted(self, room_id: str, user_id: str) -> None:
        if self.enabled:
            self.count(room_id, "chat_lines")
            self._tally(room_id).chatters.add(self.store.sketch_id(user_id))

    def clicked(self, room_id: str, product_id: str) -> bool:
        """A product card opened; only a product this room has shown counts."""
        tally = self.tallies.get(room_id)
        if not self.enabled or tally is None or product_id not in tally.showcase:
            return False
        tally.products[(product_id, "clicks")] += 1
        metrics.SHOW_COUNTS.labels("clicks").inc()
        return True

    async def held(self, room_id: str, sale_id: str, holds: int) -> None:
        if not self.enabled or holds <= 0:
            return
        product_id = self._products_of_sales.get(sale_id)
        if product_id is None:
            product_id = (await self.sales.sale(room_id, sale_id)).product_id
            if len(self._products_of_sales) > 10_000:
                self._products_of_sales.clear()
            self._products_of_sales[sale_id] = product_id
        self._tally(room_id).products[(product_id, "holds")] += holds
        metrics.SHOW_COUNTS.labels("holds").inc(holds)

    # Orders: counted as made, once each ----------------------------------------------

    async def count_order(self, room: Room, order: dict[str, Any], kind: str) -> None:
        if kind == "refund":
            await self.refunded(room, order)
        else:
            await self.ordered(room, order)

    async def ordered(self, room: Room, order: dict[str, Any]) -> None:
        """A paid order (a checkout, or an auction lot paid), however often retried."""
        if not self.enabled or await self.store.counted(room.id, order["id"]):
            return
        first = await self.store.first_purchase(room.host_id, order["buyer"]["id"])
        await self.store.order("order", room.id, order, first=first)

    async def refunded(self, room: Room, order: dict[str, Any]) -> None:
        if self.enabled:
            await self.store.order("refund", room.id, order)

    # Once a second -------------------------------------------------------------------

    async def flush(self) -> None:
        """Every show this process counted, in one call each; an unsent second is kept."""
        async with self._flushing:
            await self._flush()

    async def last_flush(self) -> None:
        """On the way down: what is left goes if the store is there; stopping never fails."""
        try:
            await self.flush()
        except LiveCommerceError as exc:
            log.warning("the last second's show counts are lost: %s", exc.code)

    async def _flush(self) -> None:
        now = self.now_ms()
        for room_id, tally in list(self.tallies.items()):
            sent = rules.take(tally, now)
            try:
                live, _total = await self.store.flush(room_id, self.process_id, sent)
            except LiveCommerceError:
                give_back(tally, sent)
                metrics.ANALYTICS_FLUSHES.labels("failed").inc()
                raise
            metrics.ANALYTICS_FLUSHES.labels("live" if live else "idle").inc()
            rules.landed(tally, sent, live)
            if live:
                metrics.SHOW_COUNTS.labels("views").inc(sent.views)
                metrics.SHOW_COUNTS.labels("watch_seconds").inc(sent.watch_ms / 1000)
            if tally.idle() and sent.sockets == 0:
                del self.tallies[room_id]

    # Results -------------------------------------------------------------------------

    async def results(self, who: str, room_id: str) -> dict[str, Any]:
        room = await self.rooms.room(room_id)
        if who != room.host_id and not await self.is_admin(who):
            raise Forbidden("only the show's host or an operator sees its results")
        if room.started_at is None:
            raise Conflict("the show has not gone live yet")
        now = self.now_ms()
        fields, viewers, chatters, buyers = await self.store.read(room.id)
        polls = await self.polls.room_polls(room.id) if self.polls is not None else []
        markers, titles = await self._shown(room, rules.split(fields)[2], polls)
        stored = Stored(fields, viewers, chatters, buyers, markers, titles)
        shown = rules.results(room.to_public(), stored, now, await self._previous(room))
        # The show's polls with their votes, for the page's table (no leaderboards: no names).
        shown["polls"] = [
            {k: v for k, v in p.to_record().items() if k != "leaderboard"} for p in polls
        ]
        return shown

    async def _shown(
        self, room: Room, counted: Iterable[str], polls: Iterable[Poll] = ()
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """Markers where products were pinned, sales, lots, giveaways, group buys and polls
        started (a giveaway's with its entrant count and winner, a group buy's with how many
        joined and whether it filled); every product's title."""
        markers: list[dict[str, Any]] = []
        titles: dict[str, str] = {}
        for pin in await self.store.pins(room.id):
            card = pin["product"]
            if card is not None:
                markers.append(_marker(pin["at"], "pin", card["id"], card["title"]))
        for sale in await self.sales.room_sales(room.id, active_only=False, limit=200):
            markers.append(_marker(sale.starts_at, "sale", sale.product_id, sale.title))
        for lot in await self.auctions.room_auctions(room.id, limit=200):
            if lot.starts_at:
                markers.append(_marker(lot.starts_at, "auction", lot.product_id, lot.title))
            titles.setdefault(lot.product_id, lot.title)
        if self.giveaways is not None:
            for g in await self.giveaways.room_giveaways(room.id, limit=200):
                marker = _marker(g.starts_at, "giveaway", g.product_id, g.title)
                marker.update(giveaway_id=g.id, entrants=g.entrants, winner=g.winner_name or None)
                markers.append(marker)
        if self.groupbuys is not None:
            for group in await self.groupbuys.room_groups(room.id, limit=200):
                marker = _marker(group.starts_at, "groupbuy", group.product_id, group.title)
                marker.update(joined=group.joined, min_buyers=group.min_buyers,
                              filled=group.filled_at > 0)  # fmt: skip
                markers.append(marker)
        for marker in markers:
            titles.setdefault(marker["product_id"], marker["title"])
        if self.polls is not None:  # a poll is a moment too, named by its question
            for poll in await self.polls.room_polls(room.id):
                markers.append(
                    {
                        "at": poll.starts_at,
                        "kind": "poll",
                        "poll_id": poll.id,
                        "title": poll.question,
                    }
                )
        for pid in list(counted)[: rules.MAX_PRODUCTS]:
            if pid not in titles:
                try:
                    titles[pid] = (await self.catalog.product(pid)).title
                except LiveCommerceError:
                    titles[pid] = ""
        return markers, titles

    async def _previous(self, room: Room) -> list[dict[str, Any]]:
        ids = await self.rooms.room_ids(None, room.host_id, HOST_ROOMS_READ)
        earlier = [
            r
            for r in await self.rooms.rooms([i for i in ids if i != room.id])
            if r.state is RoomState.ENDED
            and r.started_at is not None
            and r.started_at < (room.started_at or 0)
        ]
        earlier.sort(key=lambda r: r.started_at or 0, reverse=True)
        rows = []
        for other in earlier[: rules.PREVIOUS_SHOWS]:
            fields, viewers, _chatters, buyers = await self.store.read(other.id)
            totals = rules.split(fields)[0]
            rows.append(rules.previous_row(other.to_public(), totals, viewers, buyers))
        return rows


def _marker(at: int, kind: str, product_id: str, title: str) -> dict[str, Any]:
    return {"at": at, "kind": kind, "product_id": product_id, "title": title}


def give_back(tally: RoomTally, sent: Flush) -> None:
    """A flush the store refused goes back into the tally, to be sent with the next."""
    tally.watch_ms += sent.watch_ms
    tally.flushed_at = sent.since
    if tally.counted_live:
        tally.views += sent.views
        tally.fresh.update(sent.viewers)
    else:
        tally.views += len(sent.joined)
        tally.fresh.update(sent.joined)
    tally.counts.update(sent.counts)
    for key, n in sent.products.items():
        pid, _, name = key.partition("|")
        tally.products[(pid, name)] += n
    tally.chatters.update(sent.chatters)
