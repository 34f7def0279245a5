"""Giveaways in a room: start, enter, the draw and the winner's prize, for socket and HTTP.

The host starts a giveaway of one unit of a product of theirs (it leaves stock at once, and
comes back if nobody entered or it was cancelled); viewers present in the room enter through
their socket, once each; every process ticks, and when its time is up exactly one of them
publishes the draw (``store.py`` says how). The winner gets a zero-price order awaiting a
shipping address; with the address it is paid (nothing charged) and is an order like any
other: in the winner's orders, the creator's feed and the ``order.created`` webhook. A prize
whose winner gives no address by ``claim_by`` lapses and its unit goes back to stock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from livecommerce.accounts.auth import Identity
from livecommerce.catalog.store import CatalogStore
from livecommerce.errors import (
    BadRequest,
    Banned,
    Conflict,
    Forbidden,
    GiveawayNotActive,
    GiveawayRunning,
    GiveawayStaff,
    LiveCommerceError,
    NotABuyer,
    NotAFollower,
    NotFound,
    OrderLapsed,
    RoomNotLive,
    SoldOut,
    Unauthorized,
)
from livecommerce.events import Event
from livecommerce.giveaways.rules import (
    SEED_BYTES,
    Entrant,
    Giveaway,
    GiveawayDraft,
    GiveawayState,
    Kind,
    Method,
    Refusal,
    commitment,
    draw,
    entry_method,
    sorted_entrants,
)
from livecommerce.giveaways.store import GiveawayStore
from livecommerce.rooms.rules import Role, Room, RoomState
from livecommerce.rooms.store import RoomStore
from livecommerce.runtime import metrics
from livecommerce.runtime.ids import Ids, token
from livecommerce.runtime.ticker import Ticker
from livecommerce.selling.checkout import Checkout, parse_address
from livecommerce.store import keys
from livecommerce.store.history import Store

log = logging.getLogger("livecommerce.giveaways")

TICK_EVERY_S = 0.1  # how late past its end a giveaway may be drawn
COUNT_EVERY_S = 0.5  # giveaway.entered: at most this often per giveaway and process
CLAIM_WINDOW_S = 7 * 24 * 3600  # a winner's time to give the prize's shipping address

Notify = Callable[[str, str, dict[str, Any]], Awaitable[None]]


def _refusal(reason: str) -> LiveCommerceError:
    if reason == Refusal.NOT_ACTIVE:
        return GiveawayNotActive("this giveaway is not taking entries")
    if reason == Refusal.STAFF:
        return GiveawayStaff("the host and the room's moderators cannot enter")
    if reason == Refusal.NOT_FOLLOWER:
        return NotAFollower("follow the host to enter this giveaway")
    if reason == Refusal.NOT_BUYER:
        return NotABuyer("buy in this show, or enter free: no purchase necessary")
    if reason == Refusal.BANNED:
        return Banned("you are banned from this room")
    if reason == Refusal.GUEST:
        return Unauthorized("sign in to enter")
    if reason == "room_not_live":
        return RoomNotLive("go live before starting a giveaway")
    if reason.startswith("busy:"):
        return GiveawayRunning(f"giveaway {reason[5:]} is still running; one at a time")
    if reason == "not_found":
        return NotFound("no such giveaway")
    return Conflict(reason)


class Giveaways:
    def __init__(
        self,
        store: Store,
        giveaways: GiveawayStore,
        catalog: CatalogStore,
        checkout: Checkout,
        *,
        rooms: RoomStore,
        notify: Notify | None = None,
        claim_window_s: int = CLAIM_WINDOW_S,
        clock: Callable[[], float] = time.time,
        seeds: Callable[[int], bytes] = os.urandom,
        deleted_among: Callable[[set[str]], Awaitable[set[str]]] | None = None,
        ids: Ids | None = None,
    ) -> None:
        self.store = store
        self.giveaways = giveaways
        self.catalog = catalog
        self.checkout = checkout
        self.rooms = rooms
        self.notify = notify
        self.claim_ms = claim_window_s * 1000
        self.clock = clock
        self.seeds = seeds
        self.deleted_among = deleted_among
        self.ids = ids or Ids()
        self._counts: dict[tuple[str, str], int] = {}  # entrant counts not yet told
        self._counted_at = 0.0
        self._ticker = Ticker("giveaways", TICK_EVERY_S, self.tick, unavailable=logging.DEBUG)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def start_ticking(self) -> None:
        self._ticker.start()

    async def stop(self) -> None:
        await self._ticker.stop()

    # Reading ---------------------------------------------------------------------------

    async def giveaway(self, giveaway_id: str) -> Giveaway:
        room_id = await self.giveaways.room_of(giveaway_id)
        return await self.giveaways.giveaway(room_id, giveaway_id)

    async def public(self, giveaway: Giveaway, *, reveal: bool = True) -> Event:
        """As anyone reads it; once ended, with the seed, and (``reveal``) the sorted
        entrant ids the draw was made from. Never the seed before the end."""
        if giveaway.state is not GiveawayState.ENDED:
            return giveaway.to_public()
        revealed = await self.giveaways.revealed(giveaway.room_id, giveaway)
        assert revealed is not None
        seed, ids = revealed
        shown = giveaway.to_public(seed, sorted_entrants(ids) if reveal else None)
        winner = shown["result"]["winner"]
        if winner and self.deleted_among and await self.deleted_among({winner["id"]}):
            # A deleted winner keeps only the id the draw is checked with: no name.
            shown["result"]["winner"] = {"id": winner["id"], "name": ""}
        return shown

    async def welcome(self, room_id: str) -> Event | None:
        """A joiner's giveaway: the one running, or the last result (without the list)."""
        current = await self.giveaways.current(room_id)
        return None if current is None else await self.public(current, reveal=False)

    async def entered(self, room_id: str, user_id: str, giveaway: Event | None) -> bool:
        if giveaway is None:
            return False
        return await self.giveaways.entered(room_id, giveaway["id"], user_id)

    async def room_giveaways(self, room_id: str) -> list[Event]:
        """A show's giveaways with their entrant counts and results, for results and replay."""
        return [
            await self.public(g, reveal=False) for g in await self.giveaways.room_giveaways(room_id)
        ]

    # The host's side -------------------------------------------------------------------

    async def start(self, who: Identity, room: Room, draft: GiveawayDraft) -> Giveaway:
        """Start a giveaway; its prize unit leaves the product's stock until it is won (or
        comes back), so a sale or a lot never sells that unit too."""
        room.require_host(who.id)
        if room.state is not RoomState.LIVE:
            raise RoomNotLive("go live before starting a giveaway")
        running = await self.giveaways.current(room.id)
        if running is not None and running.state is not GiveawayState.ENDED:
            raise _refusal(f"busy:{running.id}")
        product = await self.catalog.product(draft.product_id)
        product.require_sellable(who.id, room.currency, "give away")
        now = self.now_ms()
        seed = self.seeds(SEED_BYTES)
        giveaway = Giveaway(
            id="g_" + token(9).replace(".", "_"),
            room_id=room.id,
            host_id=room.host_id,
            product_id=product.id,
            title=product.title,
            image_url=product.image_url,
            currency=room.currency,
            kind=draft.kind,
            duration_s=draft.duration_s,
            state=GiveawayState.ACTIVE,
            starts_at=now,
            ends_at=now + draft.duration_s * 1000,
            commitment=commitment(seed),
        )
        taken, stock = await self.catalog.move_stock(
            who.id, product.id, giveaway.id, 1, "take", now
        )
        if not taken:
            raise SoldOut(f"only {stock} in stock; a giveaway needs one")
        try:
            started, reason = await self.giveaways.start(giveaway, seed.hex())
        except BaseException:
            await self._give_back(giveaway)
            raise
        if not started:
            await self._give_back(giveaway)
            raise _refusal(reason)
        metrics.EVENTS_PUBLISHED.labels("giveaway.started").inc()
        return giveaway

    async def cancel(self, who: Identity, room: Room, giveaway_id: str) -> Giveaway:
        room.require_host(who.id)
        if await self.giveaways.room_of(giveaway_id) != room.id:
            raise NotFound("no such giveaway in this room")
        closed = await self.giveaways.close(room.id, giveaway_id, "cancelled", self.now_ms())
        if closed.status != 1:
            raise GiveawayNotActive("this giveaway has closed its entries already")
        metrics.EVENTS_PUBLISHED.labels("giveaway.ended").inc()
        await self._after_end(room.id, giveaway_id)
        return await self.giveaways.giveaway(room.id, giveaway_id)

    async def room_ended(self, room: Room) -> None:
        """A show that ends takes its running giveaway with it: cancelled, its unit back."""
        current = await self.giveaways.current(room.id)
        if current is not None and current.state is GiveawayState.ACTIVE:
            closed = await self.giveaways.close(room.id, current.id, "cancelled", self.now_ms())
            if closed.status == 1:
                await self._after_end(room.id, current.id)

    # The viewer's side -----------------------------------------------------------------

    async def enter(
        self, who: Identity | None, room: Room, giveaway_id: str, free_entry: bool
    ) -> tuple[bool, int, Method]:
        """(entered by this call, entrant count, method): a repeat is no error. An unknown
        giveaway (or another room's) is one not taking entries here."""
        try:
            here = await self.giveaways.room_of(giveaway_id) == room.id
        except NotFound:
            here = False
        if not here:
            raise GiveawayNotActive("no such giveaway is taking entries in this room")
        giveaway = await self.giveaways.giveaway(room.id, giveaway_id)
        if giveaway.state is not GiveawayState.ACTIVE or self.now_ms() >= giveaway.ends_at:
            raise _refusal(Refusal.NOT_ACTIVE)
        role = room.role_of(who.id if who else None)
        follows = bought = False
        if who is not None and role not in (Role.HOST, Role.MODERATOR):
            if giveaway.kind is Kind.FOLLOWERS:
                follows = await self.giveaways.follows(room.host_id, who.id)
            elif giveaway.kind is Kind.BUYERS:
                bought = await self.giveaways.bought_in(room.id, who.id)
        method = entry_method(
            giveaway.kind,
            Entrant(
                signed_in=who is not None,
                staff=role in (Role.HOST, Role.MODERATOR),
                banned=False,  # the entry script checks the room's bans atomically
                follows_host=follows,
                bought_here=bought,
                free_entry=free_entry,
            ),
        )
        if isinstance(method, Refusal):
            metrics.command("giveaway.enter", str(method)).inc()
            raise _refusal(method)
        assert who is not None
        status, value = await self.giveaways.enter(
            room.id, giveaway_id, who.id, str(method), who.name, self.now_ms()
        )
        if status == 0:
            raise _refusal(str(value))
        count = int(value)
        if status == 1:
            key = (room.id, giveaway_id)
            self._counts[key] = max(count, self._counts.get(key, 0))
        return status == 1, count, method

    # Ticks -----------------------------------------------------------------------------

    async def tick(self) -> None:
        """Tell entrant counts, draw every giveaway whose time is up, lapse unclaimed prizes;
        any process may, and exactly one draws each."""
        await self.tell_counts()
        now = self.now_ms()
        for room_id, giveaway_id, _ in await self.giveaways.due(keys.active_giveaways(), now):
            try:
                await self.finish(room_id, giveaway_id, now)
            except LiveCommerceError as exc:
                log.warning("drawing giveaway %s: %s", giveaway_id, exc.code)
        for room_id, order_id, _ in await self.giveaways.due(keys.unclaimed_prizes(), now):
            try:
                await self.lapse(room_id, order_id, now)
            except LiveCommerceError as exc:
                log.warning("lapsing prize %s: %s", order_id, exc.code)

    async def tell_counts(self, force: bool = False) -> None:
        """``giveaway.entered``: the latest count, a few times a second at most."""
        now = time.monotonic()
        if not self._counts or (not force and now - self._counted_at < COUNT_EVERY_S):
            return
        self._counted_at = now
        counts, self._counts = self._counts, {}
        for (room_id, giveaway_id), count in counts.items():
            event = {"type": "giveaway.entered", "giveaway_id": giveaway_id, "count": count}
            try:
                await self.store.publish_ephemeral(room_id, event)
            except LiveCommerceError:
                log.info("entrant count of %s not sent", giveaway_id)

    async def finish(self, room_id: str, giveaway_id: str, now: int) -> None:
        """Close the entries, draw, publish: each step once, whichever process gets there;
        a process that finds the job half done (its closer died) finishes it."""
        index = keys.active_giveaways()
        closed = await self.giveaways.close(room_id, giveaway_id, "time_up", now)
        if closed.status == 0:
            if closed.reason == "not_due":
                await self.giveaways.reschedule(index, room_id, giveaway_id, closed.ends_at)
            elif closed.reason == "already_ended":
                await self._after_end(room_id, giveaway_id)
            else:
                await self.giveaways.done(index, room_id, giveaway_id)
            return
        if closed.status == 1:  # cannot be: time_up never cancels
            return
        winner = draw(closed.seed, closed.entrants) or ""
        drawn = await self.giveaways.publish_draw(
            room_id, giveaway_id, winner, now, self.ids.order(), self.claim_ms
        )
        if drawn.ended:
            metrics.EVENTS_PUBLISHED.labels("giveaway.ended").inc()
        elif drawn.reason != "already_ended":
            log.error("giveaway %s not drawn: %s", giveaway_id, drawn.reason)
            return
        await self._after_end(room_id, giveaway_id)

    async def _after_end(self, room_id: str, giveaway_id: str) -> None:
        """What follows the end, repeatable: the prize order's indexes and its claim-by
        watch, or the unit back in stock; then it leaves the closers' set; then the winner
        is told (at least once)."""
        giveaway = await self.giveaways.giveaway(room_id, giveaway_id)
        order: Event | None = None
        if giveaway.order_id:
            order = await self.checkout.order(room_id, giveaway.order_id)
            await self.checkout.index_order(
                room_id, giveaway.winner, giveaway.order_id, int(order["created_at"])
            )
            if order["state"] == "awaiting_address":
                await self.giveaways.reschedule(
                    keys.unclaimed_prizes(), room_id, order["id"], int(order["claim_by"])
                )
        else:
            await self._give_back(giveaway)
        await self.giveaways.done(keys.active_giveaways(), room_id, giveaway_id)
        if order is not None:
            won = {"type": "giveaway.won", "to": giveaway.winner, "giveaway_id": giveaway_id,
                   "order": order}  # fmt: skip
            try:
                await self.store.publish_ephemeral(room_id, won)
            except LiveCommerceError:
                log.info("giveaway.won for %s not sent", giveaway_id)

    async def _give_back(self, giveaway: Giveaway) -> None:
        """The prize unit back to its product: once, whoever asks (the move is keyed)."""
        with contextlib.suppress(NotFound):
            await self.catalog.move_stock(
                giveaway.host_id, giveaway.product_id, giveaway.id, 1, "give", self.now_ms()
            )

    # The winner's prize ----------------------------------------------------------------

    async def claim(self, who: Identity, order_id: str, body: object) -> tuple[Event, bool]:
        """The winner's shipping address: the prize order becomes paid (no charge); a retry
        gets the same order, and (False) says it was claimed before."""
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        address = parse_address(body.get("address"))
        room_id = await self.checkout.room_of_order(order_id)
        status, reason, order = await self.giveaways.claim(
            room_id, order_id, who.id, self.now_ms(), address.to_public()
        )
        if status == 0 or order is None:
            if reason == "forbidden":
                raise Forbidden("that prize is someone else's")
            if reason == "order_lapsed":
                raise OrderLapsed("the time to claim this prize is over")
            if reason == "not_found":
                raise NotFound(f"order {order_id[:80]} does not exist")
            raise Conflict("only a giveaway's prize awaiting its address is claimed this way")
        await self.checkout.durable(room_id, who.id)
        # Not tallied in the show's sales: a prize is no purchase (the results show it as the
        # giveaway's moment, with its entrants).
        if status == 1:
            metrics.ORDERS.inc()
            giveaway = await self.giveaways.giveaway(room_id, order["giveaway_id"])
            with contextlib.suppress(NotFound):  # sold: no later give brings the unit back
                await self.catalog.move_stock(
                    giveaway.host_id, giveaway.product_id, giveaway.id, 0, "give", self.now_ms()
                )
            room = await self.rooms.room(room_id)
            for person in {room.host_id, *room.moderators, who.id}:
                with contextlib.suppress(LiveCommerceError):
                    await self.store.publish_ephemeral(
                        room_id, {"type": "order.created", "to": person, "order": order}
                    )
            if self.notify is not None:
                await self.notify(room.host_id, "order.created", order)
        await self.giveaways.done(keys.unclaimed_prizes(), room_id, order_id)
        return order, status == 1

    async def lapse(self, room_id: str, order_id: str, now: int) -> None:
        lapsed, why, detail = await self.giveaways.lapse(room_id, order_id, now)
        if not lapsed:
            if why == "not_due" and detail is not None:
                await self.giveaways.reschedule(keys.unclaimed_prizes(), room_id, order_id, detail)
            else:
                await self.giveaways.done(keys.unclaimed_prizes(), room_id, order_id)
            return
        order: Event = detail
        await self._give_back(await self.giveaways.giveaway(room_id, order["giveaway_id"]))
        room = await self.rooms.room(room_id)
        for person in {room.host_id, order["buyer"]["id"]}:
            with contextlib.suppress(LiveCommerceError):
                await self.store.publish_ephemeral(
                    room_id, {"type": "order.lapsed", "to": person, "order": order}
                )
        await self.giveaways.done(keys.unclaimed_prizes(), room_id, order_id)
