"""Selling in a room: pins, flash sales and holds, for the socket and the HTTP edges alike.

The engine's arithmetic is in Redis; this service checks who may do what, builds the
events, and keeps the room told: ``sale.stock`` is coalesced here per sale to a few updates
a second whatever the buying rate, and holds offered from the waitlist are sent to the buyer
they belong to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from livecommerce.accounts.auth import Identity
from livecommerce.catalog.rules import Product
from livecommerce.catalog.store import CatalogStore
from livecommerce.errors import (
    BadRequest,
    LiveCommerceError,
    NotFound,
    RateLimited,
    RoomNotLive,
    Unauthorized,
)
from livecommerce.events import (
    Event,
    ProductPinned,
    ProductUnpinned,
    Reservation,
    SaleEnded,
    SaleStarted,
    SaleStock,
)
from livecommerce.rooms.rules import Room, RoomState
from livecommerce.rooms.store import RoomStore
from livecommerce.runtime import metrics
from livecommerce.runtime.batching import Batcher
from livecommerce.runtime.ids import Ids, SaleId
from livecommerce.runtime.ticker import Ticker
from livecommerce.selling.rules import (
    Hold,
    HoldState,
    Sale,
    SaleDraft,
    SaleState,
    Stock,
    refusal,
    sale_id_of_hold,
)
from livecommerce.selling.store import Answer, ReserveRequest, SalesStore
from livecommerce.store.history import Store
from livecommerce.store.limits import Limit

log = logging.getLogger("livecommerce.reservations")

STOCK_EVERY_S = 0.25
TICK_EVERY_S = 0.25
BUSY_FOR_S = 2.0
NO_LIMIT = Limit("reserve", 0, 1)


def product_card(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "sku": product.sku,
        "title": product.title,
        "description": product.description,
        "image_url": product.image_url,
        "price": product.price,
        "currency": product.currency,
    }


class Reservations:
    def __init__(
        self,
        store: Store,
        sales: SalesStore,
        catalog: CatalogStore,
        *,
        rooms: RoomStore,
        clock: Callable[[], float] = time.time,
        on_sale_event: Callable[[str, str, Event], Awaitable[None]] | None = None,
        reserve_limit: Limit = NO_LIMIT,
        hold_cap: int = 0,
        ids: Ids | None = None,
        on_holds: Callable[[str, str, int], Awaitable[None]] | None = None,
    ) -> None:
        self.on_holds = on_holds  # new holds, for the show's figures
        self.ids = ids or Ids()
        self.reserve_limit = reserve_limit
        self.hold_cap = hold_cap
        self.on_sale_event = on_sale_event
        self.store = store
        self.rooms = rooms
        self.sales = sales
        self.catalog = catalog
        self.clock = clock
        self._dirty: dict[tuple[str, str], Stock] = {}
        self._ticker = Ticker("sales", TICK_EVERY_S, self.tick)
        self.last_reserve_at = float("-inf")
        self._reserves: Batcher[tuple[str, str], ReserveRequest, Answer] = Batcher(
            self._reserve_batch
        )

    def selling(self, within_s: float = BUSY_FOR_S) -> bool:
        """Whether buyers reserved here lately: a rush is no time for a long pause."""
        return time.monotonic() - self.last_reserve_at < within_s

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # Pins ------------------------------------------------------------------------------

    async def pin(self, who: Identity, room: Room, product_id: str) -> int:
        room.require_host(who.id)
        room.require_open()
        product = await self.catalog.product(product_id)
        product.require_sellable(who.id, room.currency, "pin")
        event = ProductPinned(
            type="product.pinned", product=product_card(product), at=self.now_ms()
        )
        return await self.rooms.pin(room.id, event)

    async def unpin(self, who: Identity, room: Room) -> int:
        room.require_host(who.id)
        return await self.rooms.pin(
            room.id, ProductUnpinned(type="product.unpinned", at=self.now_ms())
        )

    # Sales -----------------------------------------------------------------------------

    async def start_sale(self, who: Identity, room: Room, draft: SaleDraft) -> Sale:
        room.require_host(who.id)
        if room.state is not RoomState.LIVE:
            raise RoomNotLive("go live before starting a sale")
        product = await self.catalog.product(draft.product_id)
        product.require_sellable(who.id, room.currency, "sell")
        now = self.now_ms()
        sale_id = self.ids.sale()
        taken, stock = await self.catalog.move_stock(
            who.id, product.id, sale_id, draft.units, "take", now
        )
        if not taken:
            raise BadRequest(f"only {stock} in stock; a sale cannot offer {draft.units}")
        sale = Sale(
            id=sale_id,
            room_id=room.id,
            product_id=product.id,
            title=product.title,
            image_url=product.image_url,
            price=draft.price,
            currency=room.currency,
            units=draft.units,
            per_user_limit=draft.per_user_limit,
            hold_ms=draft.hold_s * 1000,
            starts_at=now,
            ends_at=now + draft.duration_s * 1000,
            state=SaleState.ACTIVE,
            available=draft.units,
            held=0,
            sold=0,
        )
        try:
            await self.sales.start(sale, SaleStarted(type="sale.started", sale=sale.to_public()))
        except BaseException:
            await self.catalog.move_stock(who.id, product.id, sale_id, draft.units, "give", now)
            raise
        metrics.EVENTS_PUBLISHED.labels("sale.started").inc()
        await self.tell(room.id, "sale.started", sale.to_public())
        return sale

    async def tell(self, room_id: str, kind: str, data: Event) -> None:
        if self.on_sale_event is not None:
            await self.on_sale_event(room_id, kind, data)

    async def stop_sale(self, who: Identity, room: Room, sale_id: str) -> None:
        room.require_host(who.id)
        if await self.sales.room_of(sale_id) != room.id:
            raise refusal("not_found")
        ended, reason = await self.sales.end(
            room.id, sale_id, "stopped", self.now_ms(), self._ended(sale_id, "stopped")
        )
        if not ended:
            raise refusal(reason)
        await self.tell(room.id, "sale.ended", {"sale_id": sale_id, "reason": "stopped"})

    @staticmethod
    def _ended(sale_id: str, reason: str) -> SaleEnded:
        return SaleEnded(type="sale.ended", sale_id=sale_id, reason=reason)

    async def sale(self, sale_id: str) -> Sale:
        return await self.sales.sale(await self.sales.room_of(sale_id), sale_id)

    # Holds -----------------------------------------------------------------------------

    async def reserve(
        self, who: Identity | None, sale_id: str, quantity: int, key: str
    ) -> tuple[Hold, bool]:
        """A hold, and whether it is the one this key made before (a retry)."""
        if who is None:
            raise Unauthorized("sign in to buy")
        room_id = await self.sales.room_of(sale_id)
        hold_id = self.ids.hold(SaleId(sale_id))
        request = ReserveRequest(who.id, quantity, key, hold_id)
        self.last_reserve_at = time.monotonic()
        answer = await self._reserves.submit((room_id, sale_id), request)
        metrics.command("reserve", answer.reason or "ok").inc()
        if not answer.ok:
            if answer.reason == "rate_limited":
                metrics.RATE_LIMITED.labels("reserve").inc()
                raise RateLimited("you are buying too fast", retry_after=answer.retry_ms / 1000)
            raise refusal(answer.reason)
        assert answer.hold is not None
        return answer.hold, answer.status == 2

    async def buyer_state(self, who: Identity, room_id: str) -> Event:
        """A buyer's own standing in the room, for their welcome only: the holds they have
        open (so a reloaded page shows its timer, not "limit reached") and the units they have
        bought per sale (so a buyer at the limit sees "Bought", not Buy)."""
        now = self.now_ms()
        parts = await self.sales.buyer_parts(room_id, who.id)
        return {
            "holds": [
                h.to_public()
                for part in parts
                for h in part.holds
                if h.state is HoldState.HELD and h.expires_at > now
            ],
            "bought": {part.sale_id: part.bought for part in parts if part.bought},
        }

    async def _reserve_batch(
        self, sale: tuple[str, str], requests: Sequence[ReserveRequest]
    ) -> list[Answer]:
        room_id, sale_id = sale
        rate = (self.reserve_limit.interval_ms, self.reserve_limit.burst)
        if self.reserve_limit.per_minute == 0:
            rate = (0, 1)
        answers = await self.sales.reserve_many(
            room_id, sale_id, requests, self.now_ms(), rate, self.hold_cap
        )
        metrics.RESERVE_BATCH.observe(len(requests))
        self._after(room_id, sale_id, answers[0])
        new = sum(1 for answer in answers if answer.ok and answer.status == 1)
        if new and self.on_holds is not None:
            try:
                await self.on_holds(room_id, sale_id, new)
            except Exception:  # the figures are never the buyers' problem
                log.exception("holds of sale %s are missing from its show's figures", sale_id)
        return answers

    async def release(self, who: Identity | None, hold_id: str) -> Hold:
        if who is None:
            raise Unauthorized("sign in first")
        sale_id = sale_id_of_hold(hold_id)
        room_id = await self.sales.room_of(sale_id)
        answer = await self.sales.release(room_id, sale_id, hold_id, who.id, self.now_ms())
        self._after(room_id, sale_id, answer)
        if not answer.ok:
            raise refusal(answer.reason)
        assert answer.hold is not None
        return answer.hold

    async def waitlist(self, who: Identity | None, sale_id: str, quantity: int) -> int:
        """Join the waitlist (quantity >= 1) or leave it (0); the place in line."""
        if who is None:
            raise Unauthorized("sign in first")
        room_id = await self.sales.room_of(sale_id)
        status, value = await self.sales.waitlist(room_id, sale_id, who.id, quantity, self.now_ms())
        if status == 0:
            raise refusal(value)
        return int(value) if status == 1 else 0

    def _after(self, room_id: str, sale_id: str, answer: Answer) -> None:
        self.stock_changed(room_id, sale_id, answer.stock)
        for offer in answer.offers:
            self._offer(room_id, offer)

    def _offer(self, room_id: str, hold: Hold) -> None:
        event = Reservation(type="reservation", to=hold.user_id, reservation=hold.to_public())
        task = asyncio.ensure_future(self.store.publish_ephemeral(room_id, event))
        task.add_done_callback(_quiet)

    async def reap(self, room_id: str, sale_id: str) -> Stock:
        """Expire what is due in one sale now, telling the room and the waitlist."""
        _expired, stock, offers = await self.sales.reap(room_id, sale_id, self.now_ms())
        self.stock_changed(room_id, sale_id, stock)
        for offer in offers:
            self._offer(room_id, offer)
        return stock

    def stock_changed(self, room_id: str, sale_id: str, stock: Stock) -> None:
        self._dirty[(room_id, sale_id)] = stock

    # The ticker: ends sales on time, reaps holds, sends coalesced stock -----------------

    def start(self) -> None:
        self._ticker.start()

    async def stop(self) -> None:
        await self._ticker.stop()
        await self._reserves.close()

    async def tick(self) -> None:
        now = self.now_ms()
        for room_id, sale_id, ends_at in await self.sales.due(now):
            if ends_at <= now:
                ended, _ = await self.sales.end(
                    room_id, sale_id, "time_up", now, self._ended(sale_id, "time_up")
                )
                if ended:
                    metrics.EVENTS_PUBLISHED.labels("sale.ended").inc()
                    await self.tell(
                        room_id, "sale.ended", {"sale_id": sale_id, "reason": "time_up"}
                    )
            expired, stock, offers = await self.sales.reap(room_id, sale_id, now)
            if expired or offers:
                self.stock_changed(room_id, sale_id, stock)
            if ends_at <= now and stock.held == 0:
                await self._settle(room_id, sale_id, stock, now)
            for offer in offers:
                self._offer(room_id, offer)
        await self.flush_stock()

    async def _settle(self, room_id: str, sale_id: str, stock: Stock, now: int) -> None:
        """An ended sale with no holds left: its unsold units go back to the product, once."""
        sale = await self.sales.sale(room_id, sale_id)
        if sale.state is SaleState.ACTIVE:
            return
        try:  # even with nothing unsold: the product is no longer on sale
            product = await self.catalog.product(sale.product_id)
            await self.catalog.move_stock(
                product.creator_id, product.id, sale_id, stock.available, "give", now
            )
        except NotFound:
            log.info("sale %s: product %s is gone; unsold units dropped", sale_id, sale.product_id)
        await self.sales.forget(room_id, sale_id)

    async def flush_stock(self) -> None:
        dirty, self._dirty = self._dirty, {}
        for (room_id, sale_id), stock in dirty.items():
            event = SaleStock(
                type="sale.stock",
                sale_id=sale_id,
                available=stock.available,
                held=stock.held,
                sold=stock.sold,
            )
            with contextlib.suppress(LiveCommerceError):
                await self.store.publish_ephemeral(room_id, event)


def _quiet(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
