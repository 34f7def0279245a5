"""The hammer's orders: the winner pays within a window, or the order lapses.

A lot's order is written when the lot closes (``auction_end.lua``) in state
``awaiting_payment``. Paying it is a checkout without a hold: the card is charged under the
buyer's own key (noted in the charge ledger first, so a process that dies after the charge
gives it back through the sweeper), then one script marks it paid only if it is still in
time; a payment that comes too late is refunded. An order still unpaid at ``pay_by`` lapses
on whichever process's ticker gets there, the bidder gets a strike, the unit goes back to
stock, and the host may offer the lot to the runner-up at their max (second chance).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from livecommerce.accounts.auth import Identity
from livecommerce.auctions.rules import Auction
from livecommerce.auctions.store import AuctionStore
from livecommerce.catalog.store import CatalogStore
from livecommerce.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    LiveCommerceError,
    NotFound,
    OrderLapsed,
)
from livecommerce.events import AuctionWon, Event
from livecommerce.events import OrderLapsed as OrderLapsedEvent
from livecommerce.rooms.rules import Room
from livecommerce.rooms.store import RoomStore
from livecommerce.runtime import metrics
from livecommerce.runtime.ids import Ids
from livecommerce.selling.charges import ORDER_CHARGE
from livecommerce.selling.checkout import VOID_KEY, Checkout, parse_address
from livecommerce.selling.ledger import OpenCharge
from livecommerce.selling.payments import PaymentResult, parse_card
from livecommerce.store import keys
from livecommerce.store.history import Store

log = logging.getLogger("livecommerce.auctions")

PAY_GRACE_MS = 2000  # after pay_by, before the sweeper looks at a charge for the order

Notify = Callable[[str, str, dict[str, Any]], Awaitable[None]]


def audience(room: Room, order: dict[str, Any]) -> set[str]:
    return {room.host_id, *room.moderators, order["buyer"]["id"]}


class HammerOrders:
    def __init__(
        self,
        store: Store,
        auctions: AuctionStore,
        checkout: Checkout,
        catalog: CatalogStore,
        *,
        rooms: RoomStore,
        notify: Notify | None = None,
        pay_window_s: int = 600,
        clock: Callable[[], float] = time.time,
        ids: Ids | None = None,
    ) -> None:
        self.store = store
        self.auctions = auctions
        self.checkout = checkout
        self.catalog = catalog
        self.rooms = rooms
        self.notify = notify
        self.pay_ms = pay_window_s * 1000
        self.clock = clock
        self.ids = ids or Ids()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def order(self, room_id: str, order_id: str) -> Event:
        return await self.checkout.order(room_id, order_id)

    async def _tell(self, room_id: str, people: set[str], event: dict[str, Any]) -> None:
        for person in people:
            try:
                await self.store.publish_ephemeral(room_id, {**event, "to": person})
            except LiveCommerceError:
                log.info("%s for %s not sent", event["type"], person)

    async def hammered(self, room_id: str, order: Event) -> None:
        """A lot sold: its order is found by id and by buyer, and watched for its pay-by.
        Idempotent: a process that finds a lot closed by one that died repeats it."""
        await self.checkout.index_order(
            room_id, order["buyer"]["id"], order["id"], int(order["created_at"])
        )
        await self.auctions.reschedule(
            keys.unpaid_orders(), room_id, order["id"], int(order["pay_by"])
        )

    async def tell_merchant(self, room_id: str, auction_id: str, order: Event) -> None:
        """The ``auction.won`` webhook: queued in Redis before the lot leaves the closers'
        set, so a closer that dies midway leaves it to be queued again (at least once)."""
        if self.notify is None:
            return
        room = await self.rooms.room(room_id)
        auction = await self.auctions.auction(room_id, auction_id)
        data = {"auction_id": auction_id, "product_id": auction.product_id, "order": order}
        await self.notify(room.host_id, "auction.won", data)

    async def tell_winner(self, room_id: str, auction_id: str, order: Event) -> None:
        """The winner's private ``auction.won`` (their page also sees ``auction.ended``)."""
        won = AuctionWon(
            type="auction.won",
            auction_id=auction_id,
            order=order,
            second_chance=bool(order.get("second_chance")),
        )
        await self._tell(room_id, {order["buyer"]["id"]}, dict(won))

    async def unsold(self, auction: Auction, lot: str = "") -> None:
        """The unit a lot took goes back to the product (once, whoever asks)."""
        try:
            await self.catalog.move_stock(
                auction.host_id, auction.product_id, lot or auction.id, 1, "give", self.now_ms()
            )
        except NotFound:
            log.info("lot %s: product %s is gone", auction.id, auction.product_id)

    async def _settled(self, order: Event) -> None:
        """A paid lot: its unit is sold, and its product no longer on a lot."""
        auction_id = order["auction_id"]
        auction = await self.auctions.auction(order["room_id"], auction_id)
        with contextlib.suppress(NotFound):
            await self.catalog.move_stock(
                auction.host_id, auction.product_id, order["lot"], 0, "give", self.now_ms()
            )

    # Paying ----------------------------------------------------------------------------

    async def pay(self, who: Identity, order_id: str, body: object, key: str) -> tuple[Event, bool]:
        """The paid order, and whether this call paid it (False: a retry got the same)."""
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        address = parse_address(body.get("address"))
        raw_card = body.get("payment")
        if raw_card is None:
            raise BadRequest("'payment' must be a JSON object")
        card = parse_card(raw_card, now=self.clock())
        room_id = await self.checkout.room_of_order(order_id)
        order = await self.checkout.order(room_id, order_id)
        if order["buyer"]["id"] != who.id:
            raise Forbidden("that order is someone else's")
        if order.get("kind") != "auction":
            raise Conflict("only an auction's order is paid this way")
        await self.checkout.bind_key(who.id, key, ORDER_CHARGE + order_id)
        if order["state"] == "paid":
            await self.checkout.tally(room_id, order, "order")
            return order, False
        if order["state"] == "lapsed" or order["pay_by"] <= self.now_ms():
            raise OrderLapsed("the time to pay for this lot is over")
        amount = int(order["amount"])
        charge_key = f"{who.id}|{key}"
        charge = OpenCharge(
            charge_key, room_id, "", ORDER_CHARGE + order_id, who.id, amount, order["currency"]
        )
        await self.checkout.ledger.open(charge, int(order["pay_by"]) + PAY_GRACE_MS)
        payment = await self.checkout.payments.charge(
            amount=amount,
            currency=order["currency"],
            card=card,
            idempotency_key=charge_key,
            description=f"{order['lines'][0]['title']} (auction)",
        )
        if not payment.paid:
            await self.checkout.ledger.close(charge_key)
        payment.require_paid()
        status, reason, paid = await self.auctions.pay(
            room_id,
            order_id,
            who.id,
            self.now_ms(),
            address.to_public(),
            {"ref": payment.payment_ref, **card.to_public()},
        )
        if status == 0 or paid is None:
            await self._void(payment, amount, charge_key)
            if reason == "order_lapsed":
                raise OrderLapsed("the time to pay for this lot is over; nothing was charged")
            raise Conflict(reason)
        await self.checkout.durable(room_id, who.id)
        await self.checkout.tally(room_id, paid, "order")
        if status == 2 and paid["payment"]["ref"] != payment.payment_ref:
            await self._void(payment, amount, charge_key)  # another charge paid it first
            return paid, False
        await self.checkout.ledger.close(charge_key)
        if status == 2:
            return paid, False
        metrics.ORDERS.inc()
        await self._settled(paid)
        room = await self.rooms.room(room_id)
        await self._tell(room_id, audience(room, paid), {"type": "order.created", "order": paid})
        if self.notify is not None:
            await self.notify(room.host_id, "order.created", paid)
        return paid, True

    async def _void(self, payment: PaymentResult, amount: int, charge_key: str) -> None:
        await self.checkout.payments.refund(
            payment_ref=payment.payment_ref,
            amount=amount,
            idempotency_key=VOID_KEY.format(payment.payment_ref),
        )
        await self.checkout.ledger.close(charge_key)

    # Lapsing ---------------------------------------------------------------------------

    async def tick(self) -> None:
        now = self.now_ms()
        for room_id, order_id, _ in await self.auctions.due(keys.unpaid_orders(), now):
            try:
                await self.lapse(room_id, order_id, now)
            except LiveCommerceError as exc:
                log.warning("lapsing order %s: %s", order_id, exc.code)

    async def lapse(self, room_id: str, order_id: str, now: int) -> None:
        lapsed, why, detail = await self.auctions.lapse(room_id, order_id, now)
        if not lapsed:
            if why == "not_due" and detail is not None:
                await self.auctions.reschedule(keys.unpaid_orders(), room_id, order_id, detail)
            else:
                await self.auctions.done(keys.unpaid_orders(), room_id, order_id)
            return
        order: Event = detail
        strikes = await self.auctions.strike(order["buyer"]["id"])
        auction = await self.auctions.auction(room_id, order["auction_id"])
        await self.unsold(auction, order["lot"])
        room = await self.rooms.room(room_id)
        event = OrderLapsedEvent(type="order.lapsed", order=order)
        await self._tell(room_id, audience(room, order), dict(event))
        if self.notify is not None:
            await self.notify(room.host_id, "order.lapsed", {**order, "strikes": strikes})
        await self.auctions.done(keys.unpaid_orders(), room_id, order_id)

    async def second_chance(self, room: Room, auction: Auction) -> Event:
        """Offer a lapsed lot to the runner-up at their max, if its unit is still there."""
        if not auction.order_id:
            raise Conflict("this lot did not sell")
        lot = f"{auction.id}.2"
        now = self.now_ms()
        taken, _ = await self.catalog.move_stock(
            auction.host_id, auction.product_id, lot, 1, "take", now
        )
        if not taken:
            raise Conflict("the product has no unit left to offer")
        done, why, order = await self.auctions.second_chance(
            room.id, auction, now, self.ids.order(), self.pay_ms
        )
        if not done or order is None:
            await self.catalog.move_stock(auction.host_id, auction.product_id, lot, 1, "give", now)
            messages = {
                "not_lapsed": "the winner's order has not lapsed",
                "no_runner_up": "nobody else bid on this lot",
                "offered": "a second chance was offered already",
            }
            raise Conflict(messages.get(why, why))
        await self.hammered(room.id, order)
        await self.tell_merchant(room.id, auction.id, order)
        await self.tell_winner(room.id, auction.id, order)
        return order
