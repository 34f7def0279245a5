"""Live auctions in a room: the run sheet, bids and the hammer, for the socket and HTTP alike.

The price arithmetic runs in Redis (``auction_*.lua``, the same rules as ``rules.py``); this
service checks who may do what, sends each lot's bids in batches (one script call for every
bid that arrived while the last was in flight), closes the lots whose time is up on every
process (one of them wins each) and tells the person outbid.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from livecommerce.accounts.auth import Identity
from livecommerce.accounts.privacy import anonymise, authors
from livecommerce.auctions.orders import HammerOrders
from livecommerce.auctions.rules import (
    Auction,
    AuctionDraft,
    AuctionState,
    Increments,
    Outcome,
)
from livecommerce.auctions.store import MAX_OPEN_LOTS, AuctionStore, BidAnswer, BidRequest
from livecommerce.catalog.store import CatalogStore
from livecommerce.errors import (
    AuctionNotActive,
    BadRequest,
    Banned,
    BidTooLow,
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    LiveCommerceError,
    NotFound,
    RateLimited,
    RoomNotLive,
    Unauthorized,
)
from livecommerce.events import Event, Outbid
from livecommerce.rooms.rules import Role, Room, RoomState
from livecommerce.rooms.store import RoomStore
from livecommerce.runtime import metrics
from livecommerce.runtime.batching import Batcher
from livecommerce.runtime.ids import Ids
from livecommerce.runtime.ticker import Ticker
from livecommerce.store import keys
from livecommerce.store.history import Store
from livecommerce.store.limits import Limit

log = logging.getLogger("livecommerce.auctions")

TICK_EVERY_S = 0.1  # how late past its end a lot may close
NO_LIMIT = Limit("bid", 0, 1)
BUSY_FOR_S = 2.0
NOTED_LOTS = 10_000  # lots whose bidders this process remembers having indexed

Audit = Callable[[str, Event], Awaitable[Any]]


def _refusal(reason: str, next_bid: int = 0) -> LiveCommerceError:
    if reason == "bid_too_low":
        return BidTooLow(f"the lot takes at least {next_bid} now", next_bid=next_bid)
    if reason == "auction_not_active":
        return AuctionNotActive("this lot is not taking bids")
    if reason == "forbidden":
        return Forbidden("the host and the room's moderators never bid")
    if reason == "idempotency_key_reused":
        return IdempotencyKeyReused("this key was used for a bid of another amount; use a new one")
    if reason == "banned":
        return Banned("you are banned from this room")
    if reason == "struck":
        return Forbidden("you left too many lots unpaid to bid again")
    if reason == "not_found":
        return NotFound("no such auction")
    if reason == "room_not_live":
        return RoomNotLive("go live before starting a lot")
    if reason.startswith("busy:"):
        return Conflict(f"lot {reason[5:]} is still running; one lot at a time")
    return Conflict(reason)


class Auctions:
    def __init__(
        self,
        store: Store,
        auctions: AuctionStore,
        catalog: CatalogStore,
        orders: HammerOrders,
        *,
        rooms: RoomStore,
        increments: Increments,
        bid_limit: Limit = NO_LIMIT,
        strike_limit: int = 0,
        audit: Audit | None = None,
        deleted_among: Callable[[set[str]], Awaitable[set[str]]] | None = None,
        clock: Callable[[], float] = time.time,
        ids: Ids | None = None,
    ) -> None:
        self.store = store
        self.auctions = auctions
        self.catalog = catalog
        self.orders = orders
        self.rooms = rooms
        self.increments = increments
        self.bid_limit = bid_limit
        self.strike_limit = strike_limit
        self.audit = audit
        self.deleted_among = deleted_among
        self.clock = clock
        self.ids = ids or Ids()
        self._noted: dict[str, set[str]] = {}
        self.last_bid_at = float("-inf")
        self._bids: Batcher[tuple[str, str], BidRequest, BidAnswer] = Batcher(self._bid_batch)
        self._ticker = Ticker("auctions", TICK_EVERY_S, self.tick, unavailable=logging.DEBUG)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def bidding(self, within_s: float = BUSY_FOR_S) -> bool:
        """Whether bids came in lately: the last seconds of a lot are no time for a pause."""
        return time.monotonic() - self.last_bid_at < within_s

    def start_ticking(self) -> None:
        self._ticker.start()

    async def stop(self) -> None:
        await self._ticker.stop()

    def public(self, auction: Auction) -> dict[str, Any]:
        return auction.to_public(self.increments)

    # The run sheet ---------------------------------------------------------------------

    async def queue(self, who: Identity, room: Room, draft: AuctionDraft) -> Auction:
        """Put a lot on the run sheet; its unit leaves the product's stock until it sells or
        comes back, so two lots (or a lot and a flash sale) never sell one unit twice."""
        room.require_host(who.id)
        room.require_open()
        product = await self.catalog.product(draft.product_id)
        product.require_sellable(who.id, room.currency, "auction")
        now = self.now_ms()
        auction = Auction(
            id=self.ids.auction(),
            room_id=room.id,
            host_id=room.host_id,
            product_id=product.id,
            title=product.title,
            image_url=product.image_url,
            currency=room.currency,
            starting_bid=draft.starting_bid,
            reserve=draft.reserve,
            duration_s=draft.duration_s,
            mode=draft.mode,
            extend_s=draft.extend_s,
            state=AuctionState.QUEUED,
            queued_at=now,
        )
        taken, stock = await self.catalog.move_stock(who.id, product.id, auction.id, 1, "take", now)
        if not taken:
            raise BadRequest(f"only {stock} in stock; a lot needs one")
        try:
            seq = await self.auctions.queue(auction, self.increments)
        except BaseException:
            await self.catalog.move_stock(who.id, product.id, auction.id, 1, "give", now)
            raise
        if seq <= 0:
            await self.catalog.move_stock(who.id, product.id, auction.id, 1, "give", now)
            if seq == -1:
                raise NotFound(f"room {room.id} does not exist")
            if seq == -2:
                raise Conflict(f"the run sheet holds at most {MAX_OPEN_LOTS} open lots")
            raise RoomNotLive("the show has ended")
        metrics.EVENTS_PUBLISHED.labels("auction.queued").inc()
        return auction

    async def start(self, who: Identity, room: Room, auction_id: str) -> Auction:
        room.require_host(who.id)
        if room.state is not RoomState.LIVE:
            raise RoomNotLive("go live before starting a lot")
        if await self.auctions.room_of(auction_id) != room.id:
            raise NotFound("no such auction in this room")
        started, reason, _ = await self.auctions.start(
            room.id, auction_id, self.now_ms(), self.increments
        )
        if not started:
            raise _refusal(reason)
        metrics.EVENTS_PUBLISHED.labels("auction.started").inc()
        return await self.auctions.auction(room.id, auction_id)

    async def run(self, who: Identity, room: Room, draft: AuctionDraft) -> Auction:
        """Queue a lot and start it at once: the one-tap lot that was never on the sheet."""
        if room.state is not RoomState.LIVE:
            raise RoomNotLive("go live before starting a lot")
        running = await self.auctions.live_lot(room.id)
        if running is not None:
            raise _refusal(f"busy:{running}")
        auction = await self.queue(who, room, draft)
        try:
            return await self.start(who, room, auction.id)
        except LiveCommerceError:
            await self.cancel(who, room, auction.id)
            raise

    async def cancel(self, who: Identity, room: Room, auction_id: str) -> Auction:
        room.require_host(who.id)
        if await self.auctions.room_of(auction_id) != room.id:
            raise NotFound("no such auction in this room")
        if not await self._cancel(room.id, auction_id):
            raise AuctionNotActive("this lot has ended already")
        return await self.auctions.auction(room.id, auction_id)

    async def _cancel(self, room_id: str, auction_id: str) -> bool:
        """End a lot as cancelled; a queued one joins the closers' set first, so that if this
        process dies before its unit is back in stock, another process finishes the job."""
        now, index = self.now_ms(), keys.active_auctions()
        added = await self.auctions.reschedule(index, room_id, auction_id, now, nx=True)
        closing = await self.auctions.end(
            room_id, auction_id, "cancelled", now, self.ids.order(), 0
        )
        if closing.closed:
            await self._after_close(room_id, auction_id, closing.outcome, None)
        elif added:  # ended before: it must not come back to the closers (they would tell)
            await self.auctions.done(index, room_id, auction_id)
        return closing.closed

    async def room_ended(self, room: Room) -> None:
        """A show that ends takes its open lots with it: cancelled, their units back."""
        for lot in await self.auctions.open_and_last(room.id):
            if lot.state is AuctionState.ENDED:
                continue
            await self._cancel(room.id, lot.id)

    async def auction(self, auction_id: str) -> Auction:
        return await self.auctions.auction(await self.auctions.room_of(auction_id), auction_id)

    async def room_lots(self, room_id: str) -> list[Auction]:
        return await self.auctions.room_auctions(room_id)

    async def welcome_lots(self, room_id: str) -> list[dict[str, Any]]:
        """A joiner's lots: the whole run sheet still to come (queued and active, in order),
        and the latest that ended, for its result. The reader anonymises them."""
        return [self.public(a) for a in await self.auctions.open_and_last(room_id)]

    async def bidder_maxes(self, room_id: str, user_id: str, lots: Sequence[Event]) -> Event:
        return await self.auctions.maxes_of(room_id, [lot["id"] for lot in lots], user_id)

    # Bids ------------------------------------------------------------------------------

    async def bid(self, who: Identity | None, auction_id: str, amount: int, key: str) -> BidAnswer:
        if who is None:
            raise Unauthorized("sign in to bid")
        room_id = await self.auctions.room_of(auction_id)
        self.last_bid_at = time.monotonic()
        answer = await self._bids.submit(
            (room_id, auction_id), BidRequest(who.id, who.name, amount, key)
        )
        metrics.command("bid", answer.reason or "ok").inc()
        if not answer.ok:
            if answer.reason == "rate_limited":
                metrics.RATE_LIMITED.labels("bid").inc()
                raise RateLimited("you are bidding too fast", retry_after=answer.retry_ms / 1000)
            raise _refusal(answer.reason, answer.next_bid)
        return answer

    async def _bid_batch(
        self, lot: tuple[str, str], requests: Sequence[BidRequest]
    ) -> list[BidAnswer]:
        room_id, auction_id = lot
        struck: set[str] = set()
        if self.strike_limit > 0:
            bidders = sorted({r.bidder for r in requests})
            counts = await self.auctions.strikes(bidders)
            struck = {b for b, n in zip(bidders, counts, strict=True) if n >= self.strike_limit}
        allowed = [r for r in requests if r.bidder not in struck]
        metrics.BID_BATCH.observe(len(requests))
        rate = (0, 1)
        if self.bid_limit.per_minute > 0:
            rate = (self.bid_limit.interval_ms, self.bid_limit.burst)
        answers = iter(
            await self.auctions.bid_many(
                room_id, auction_id, allowed, self.now_ms(), self.increments, rate
            )
            if allowed
            else []
        )
        out = [
            BidAnswer(0, reason="struck") if r.bidder in struck else next(answers) for r in requests
        ]
        await self._note_bidders(room_id, auction_id, requests, out)
        for answer in out:
            if answer.status == 1 and answer.outbid:
                await self._tell_outbid(room_id, auction_id, answer)
        return out

    async def _note_bidders(
        self,
        room_id: str,
        auction_id: str,
        requests: Sequence[BidRequest],
        answers: Sequence[BidAnswer],
    ) -> None:
        """Remember whose bids a lot took, for their data export: once per lot and bidder
        in this process, so a rush of repeat bids writes nothing more."""
        if len(self._noted) > NOTED_LOTS:
            self._noted.clear()
        noted = self._noted.setdefault(auction_id, set())
        new = {r.bidder for r, a in zip(requests, answers, strict=True) if a.status == 1} - noted
        if new:
            await self.auctions.note_bidders(room_id, auction_id, sorted(new))
            noted.update(new)

    async def bids_of(self, user_id: str, limit: int) -> list[Event]:
        """The lots a person bid on, with their own max and how each ended, for their export."""
        found: list[Event] = []
        for room_id, auction_id in await self.auctions.lots_of_bidder(user_id, limit):
            try:
                lot = await self.auctions.auction(room_id, auction_id)
            except NotFound:
                continue
            mine = await self.auctions.maxes_of(room_id, [auction_id], user_id)
            found.append(
                {
                    "auction_id": lot.id,
                    "room_id": room_id,
                    "title": lot.title,
                    "currency": lot.currency,
                    "max": mine.get(auction_id),
                    "state": str(lot.state),
                    "won": lot.winner == user_id,
                    "amount": lot.amount if lot.winner == user_id else None,
                }
            )
        return found

    async def bid_log(self, auction_id: str, *, staff: bool) -> list[Event]:
        """A lot's bids as its room reads them: the price each made and the high bidder after
        it; only the room's staff also see who placed each and its max."""
        room_id = await self.auctions.room_of(auction_id)
        bids = []
        for e in await self.auctions.bids(room_id, auction_id):
            shown: Event = {
                "n": e["n"],
                "amount": e["amount"],
                "bidder": {"id": e["leader"], "name": e["leader_name"]},
                "at": e["at"],
                "voided": e["voided"],
            }
            if staff:
                shown["placed_by"] = {"id": e["bidder"], "name": e["name"]}
                shown["max"] = e["max"]
            bids.append(shown)
        return await self._anonymised(bids)

    async def shown(self, lots: Sequence[Auction]) -> list[Event]:
        """Lots as people see them: a deleted account's bids and wins show nobody."""
        return await self._anonymised([self.public(lot) for lot in lots])

    async def _anonymised(self, items: list[Event]) -> list[Event]:
        if self.deleted_among is None:
            return items
        deleted = await self.deleted_among(authors(items))
        return anonymise(items, deleted)

    async def _tell_outbid(self, room_id: str, auction_id: str, answer: BidAnswer) -> None:
        event = Outbid(
            type="outbid",
            to=answer.outbid,
            auction_id=auction_id,
            amount=answer.amount,
            next_bid=answer.next_bid,
        )
        try:
            await self.store.publish_ephemeral(room_id, event)
        except LiveCommerceError:
            log.info("outbid notice for %s not sent", auction_id)

    async def void(
        self, who: Identity, room: Room, auction_id: str, user_id: str, reason: str = ""
    ) -> Auction:
        """A moderator's call on fraud: their bids stop counting, and it is audited."""
        if room.role_of(who.id) not in (Role.HOST, Role.MODERATOR):
            raise Forbidden("only the host or a moderator may void bids")
        if await self.auctions.room_of(auction_id) != room.id:
            raise NotFound("no such auction in this room")
        done, why = await self.auctions.void(room.id, auction_id, user_id, self.increments)
        if not done:
            if why == "no_bids":
                raise Conflict("that person has no bids on this lot")
            raise _refusal(why)
        if self.audit is not None:
            entry: Event = {
                "id": self.ids.message(),
                "at": self.now_ms(),
                "actor": {"id": who.id, "name": who.name},
                "action": "auction.void",
                "target": {"user_id": user_id, "auction_id": auction_id},
            }
            if reason:
                entry["reason"] = reason
            await self.audit(room.id, entry)
        return await self.auctions.auction(room.id, auction_id)

    async def second_chance(self, who: Identity, room: Room, auction_id: str) -> Event:
        room.require_host(who.id)
        if await self.auctions.room_of(auction_id) != room.id:
            raise NotFound("no such auction in this room")
        auction = await self.auctions.auction(room.id, auction_id)
        return await self.orders.second_chance(room, auction)

    # Closing ---------------------------------------------------------------------------

    async def tick(self) -> None:
        """Close every lot whose time is up; any process may, and exactly one does each."""
        now = self.now_ms()
        for room_id, auction_id, _ in await self.auctions.due(keys.active_auctions(), now):
            try:
                await self.close(room_id, auction_id, now)
            except LiveCommerceError as exc:
                log.warning("closing lot %s: %s", auction_id, exc.code)
        await self.orders.tick()

    async def close(self, room_id: str, auction_id: str, now: int) -> None:
        closing = await self.auctions.end(
            room_id, auction_id, "time_up", now, self.ids.order(), self.orders.pay_ms
        )
        if closing.reason == "not_due" and closing.ends_at > 0:
            await self.auctions.reschedule(
                keys.active_auctions(), room_id, auction_id, closing.ends_at
            )
            return
        if closing.reason == "not_due":  # still queued: its start was refused
            await self.auctions.done(keys.active_auctions(), room_id, auction_id)
            return
        if closing.reason == "not_found":
            await self.auctions.done(keys.active_auctions(), room_id, auction_id)
            return
        if closing.closed:
            metrics.EVENTS_PUBLISHED.labels("auction.ended").inc()
        # Ended by a process that died before telling anyone: tell them now (at least once).
        await self._after_close(room_id, auction_id, closing.outcome, closing.order)

    async def _after_close(
        self, room_id: str, auction_id: str, outcome: str, order: dict[str, Any] | None
    ) -> None:
        """What follows a close, on the process that closed it, or on one that finds it
        closed but still in the closers' set (its closer died midway). Each step may be
        repeated: the order's indexes and its pay-by watch, the unit's way back to stock,
        the merchant's webhook (at least once); then the lot leaves the set; then the winner
        is told."""
        if outcome == Outcome.SOLD and order is None:
            auction = await self.auctions.auction(room_id, auction_id)
            order = await self.orders.order(room_id, auction.order_id)
        if order is not None:
            await self.orders.hammered(room_id, order)
            await self.orders.tell_merchant(room_id, auction_id, order)
        elif outcome:
            await self.orders.unsold(await self.auctions.auction(room_id, auction_id))
        await self.auctions.done(keys.active_auctions(), room_id, auction_id)
        if order is not None:
            await self.orders.tell_winner(room_id, auction_id, order)
